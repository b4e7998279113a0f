//! A minimal ONNX writer for tests: just enough of ModelProto in protobuf wire format to build
//! small float graphs (nodes with int/ints attributes, float and int64 initializers, tensor
//! inputs/outputs with fixed or named dimensions, metadata).
#![allow(dead_code)]

/// A dimension: fixed, or named (dynamic).
#[derive(Clone, Debug)]
pub enum Dim {
    Fixed(i64),
    Named(&'static str),
}

pub use Dim::{Fixed, Named};

struct Node {
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    ints: Vec<(String, Vec<i64>)>,
}

enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A graph under construction.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    inputs: Vec<(String, Vec<Dim>)>,
    outputs: Vec<(String, Vec<Dim>)>,
    consts: Vec<(String, Vec<i64>, Data)>,
    metadata: Vec<(String, String)>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn input(mut self, name: &str, dims: &[Dim]) -> Self {
        self.inputs.push((name.into(), dims.to_vec()));
        self
    }

    pub fn output(mut self, name: &str, dims: &[Dim]) -> Self {
        self.outputs.push((name.into(), dims.to_vec()));
        self
    }

    pub fn floats(mut self, name: &str, dims: &[i64], v: &[f32]) -> Self {
        self.consts.push((name.into(), dims.to_vec(), Data::F32(v.to_vec())));
        self
    }

    pub fn int64s(mut self, name: &str, v: &[i64]) -> Self {
        self.consts.push((name.into(), vec![v.len() as i64], Data::I64(v.to_vec())));
        self
    }

    /// A node; `attrs` are integer-list attributes (a one-element list for an int is written as
    /// a list only when the name is `perm`, `axes` or `pads`; else as an int).
    pub fn node(mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, &[i64])]) -> Self {
        self.nodes.push(Node {
            op: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            ints: attrs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
        });
        self
    }

    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// The ModelProto bytes (IR version 8, opset 17).
    pub fn encode(&self) -> Vec<u8> {
        let mut g = Vec::new();
        for n in &self.nodes {
            let mut b = Vec::new();
            n.inputs.iter().for_each(|s| string(&mut b, 1, s));
            n.outputs.iter().for_each(|s| string(&mut b, 2, s));
            string(&mut b, 4, &n.op);
            for (k, v) in &n.ints {
                let mut a = Vec::new();
                string(&mut a, 1, k);
                if v.len() == 1 && !matches!(k.as_str(), "perm" | "axes" | "pads") {
                    varint_field(&mut a, 3, v[0] as u64);
                    varint_field(&mut a, 20, 2); // INT
                } else {
                    v.iter().for_each(|x| varint_field(&mut a, 8, *x as u64));
                    varint_field(&mut a, 20, 7); // INTS
                }
                bytes(&mut b, 5, &a);
            }
            bytes(&mut g, 1, &b);
        }
        string(&mut g, 2, "test");
        for (name, dims, data) in &self.consts {
            let mut t = Vec::new();
            dims.iter().for_each(|d| varint_field(&mut t, 1, *d as u64));
            let raw: Vec<u8> = match data {
                Data::F32(v) => {
                    varint_field(&mut t, 2, 1);
                    v.iter().flat_map(|x| x.to_le_bytes()).collect()
                }
                Data::I64(v) => {
                    varint_field(&mut t, 2, 7);
                    v.iter().flat_map(|x| x.to_le_bytes()).collect()
                }
            };
            string(&mut t, 8, name);
            bytes(&mut t, 9, &raw);
            bytes(&mut g, 5, &t);
        }
        for (field, list) in [(11, &self.inputs), (12, &self.outputs)] {
            for (name, dims) in list {
                bytes(&mut g, field, &value_info(name, dims));
            }
        }
        let mut m = Vec::new();
        varint_field(&mut m, 1, 8);
        string(&mut m, 2, "deeplens-tests");
        bytes(&mut m, 7, &g);
        let mut opset = Vec::new();
        varint_field(&mut opset, 2, 17);
        bytes(&mut m, 8, &opset);
        for (k, v) in &self.metadata {
            let mut e = Vec::new();
            string(&mut e, 1, k);
            string(&mut e, 2, v);
            bytes(&mut m, 14, &e);
        }
        m
    }

    pub fn save(&self, path: &std::path::Path) {
        std::fs::write(path, self.encode()).unwrap();
    }
}

fn value_info(name: &str, dims: &[Dim]) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims {
        let mut dim = Vec::new();
        match d {
            Fixed(v) => varint_field(&mut dim, 1, *v as u64),
            Named(s) => string(&mut dim, 2, s),
        }
        bytes(&mut shape, 1, &dim);
    }
    let mut tensor = Vec::new();
    varint_field(&mut tensor, 1, 1); // FLOAT
    bytes(&mut tensor, 2, &shape);
    let mut ty = Vec::new();
    bytes(&mut ty, 1, &tensor);
    let mut v = Vec::new();
    string(&mut v, 1, name);
    bytes(&mut v, 2, &ty);
    v
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, (field as u64) << 3);
    varint(out, v);
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    varint(out, ((field as u64) << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes(out, field, s.as_bytes());
}
