//! Depth model cards (`--depth-model-card FILE`, `MODEL.onnx.toml`): any text is a card or an
//! error; a card fitted to a graph's input sizes pictures without panicking or allocating
//! without bound.
use deeplens_core::depth::card::DepthCard;

fn main() {
    let graphs: [&[i64]; 4] = [&[1, 3, -1, -1], &[1, 3, 192, 320], &[1, 256, 256, 3], &[1, 1, 3, -1, -1]];
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(card) = DepthCard::from_toml(text, "fuzz") {
                for dims in graphs {
                    if let Ok(fitted) = card.clone().fit("input", dims) {
                        for (w, h) in [(1, 1), (640, 360), (4096, 2160), (3, 5000)] {
                            let _ = fitted.input_size(w, h);
                        }
                    }
                }
            }
        }
    });
}
