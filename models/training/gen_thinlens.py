"""Random thin-lens scenes rendered with Blender's Cycles: the lens renderers' selection set.

Issue 18: designs and checkpoints of the learned renderer are chosen on these scenes only;
`tests/data/thinlens/` (four hand-built scenes at 320x240) stays a test nothing is tuned on.

    blender -b -P models/training/gen_thinlens.py -- --out DIR --seed S --count N \
        [--size 640x360] [--samples 128] [--focus-settings 3] [--threads 2]

Each scene is a random layout (objects at 0.5-30 m, a backdrop, sometimes a ground plane, an
out-of-focus occluder in front, small lights of 2-20x white that clip in the 8-bit input), shaded
either by emission only (as the test scenes) or lit by a sun with diffuse and glossy surfaces
(specular highlights). Every scene is rendered at several focus distances (a near object, a middle
one, the far part), each with its own largest blur of 1-6 % of the width, and written in
tests/data/thinlens' layout so `deeplens_eval::lens_eval::thin_lens_scenes` reads it:
``NAME_input.png`` (8-bit all-in-focus), ``NAME_depth.png`` (16-bit normalised disparity),
``NAME_dof.png`` (16-bit Cycles thin-lens truth), ``NAME_defocus.png`` (Blender's Defocus node with
the exact circle of confusion, a peer) and ``NAME.json`` with NAME = s<seed>_<k>_f<j>.
A scene whose files all exist is skipped, so an interrupted run resumes.
"""

import json
import math
import os
import random
import shutil
import sys
import time

import bpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "data", "thinlens"))
import make_scenes as ms  # noqa: E402  (the test scenes' building blocks, reused)

KINDS = ["cube", "sphere", "monkey", "cylinder", "torus"]


def light_up(rng):
    """Turn the emission materials of ordinary surfaces into diffuse + glossy ones lit by a sun."""
    for mat in bpy.data.materials:
        nt = mat.node_tree
        em = nt.nodes.get("Emission")
        if em is None or em.inputs["Strength"].default_value > 1.0:
            continue  # a light stays a light
        bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.inputs["Roughness"].default_value = rng.uniform(0.15, 0.8)
        bsdf.inputs["Specular"].default_value = rng.uniform(0.2, 0.8)
        col = em.inputs["Color"]
        if col.is_linked:
            nt.links.new(col.links[0].from_socket, bsdf.inputs["Base Color"])
        else:
            bsdf.inputs["Base Color"].default_value = col.default_value
        out = nt.nodes["Material Output"]
        nt.links.new(bsdf.outputs[0], out.inputs["Surface"])
        nt.nodes.remove(em)
    for k in range(2):
        sun = bpy.data.lights.new("sun%d" % k, "SUN")
        sun.energy = rng.uniform(2.5, 5.0) if k == 0 else rng.uniform(0.5, 1.5)
        sun.angle = 0.0
        ob = bpy.data.objects.new("sun%d" % k, sun)
        # Light from behind the camera (-y), from above and a side.
        ob.rotation_euler = (math.radians(rng.uniform(60, 120)), 0.0, math.radians(rng.uniform(-50, 50)))
        bpy.context.scene.collection.objects.link(ob)


def build(rng):
    """A random layout; returns the depths of its main objects (near to far) and the backdrop's."""
    z_back = rng.uniform(6.0, 30.0)
    ms.backdrop(rng, z_back)
    if rng.random() < 0.5:
        ground = ms.add(bpy.ops.mesh.primitive_plane_add, ms.emission_material(rng, rng.choice(["checker", "brick", "noise", "voronoi"]), detail=20.0), size=1.0, location=(0, z_back / 2, -rng.uniform(0.6, 1.2)))
        ground.scale = (z_back * 2, z_back * 1.1, 1)
    ms.lights(rng, rng.randrange(0, 21), z_back * 0.8, z_back * 0.98)
    depths = []
    for _ in range(rng.randrange(2, 8)):
        z = math.exp(rng.uniform(math.log(0.9), math.log(z_back * 0.7)))
        hw, hh = ms.half_extent(z)
        ms.thing(rng, rng.choice(KINDS), rng.uniform(-0.8, 0.8) * hw, z, rng.uniform(-0.7, 0.7) * hh, rng.uniform(0.15, 0.4) * z ** 0.85)
        depths.append(z)
    if rng.random() < 0.6:
        ms.lights(rng, rng.randrange(1, 7), 1.5, z_back * 0.6, spread=0.8)
    if rng.random() < 0.5:
        # An occluder close to the camera, partly out of the frame.
        z = rng.uniform(0.5, 0.9)
        hw, hh = ms.half_extent(z)
        side = rng.choice([-1, 1])
        ms.thing(rng, rng.choice(["cylinder", "cube", "sphere"]), side * rng.uniform(0.7, 1.0) * hw, z, rng.uniform(-0.5, 0.5) * hh, rng.uniform(0.3, 0.6) * z)
    lit = rng.random() < 0.4
    if lit:
        light_up(rng)
    depths.sort()
    return depths, z_back, lit


def render_scene(out, seed, k, size, samples, settings):
    names = ["s%d_%d_f%d" % (seed, k, j) for j in range(settings)]
    if all(os.path.exists(os.path.join(out, n + ".json")) for n in names):
        return
    rng = random.Random("%d/%d" % (seed, k))
    ms.W, ms.H = size
    W, H = size
    scene = ms.reset()
    scene.render.threads = ms.THREADS
    depths, z_back, lit = build(rng)
    cam = scene.camera.data

    scene.view_layers[0].use_pass_z = True
    ms.compositor_passes(scene, True)
    scene.cycles.samples = 1
    scene.cycles.filter_type = "BOX"
    scene.cycles.filter_width = 0.01
    ms.render_to(scene, "/tmp/deeplens_thinlens_z.png", False)
    z = ms.read_depth()
    z_near, z_far = min(z), max(z)
    inv_n, inv_f = 1.0 / z_near, 1.0 / z_far
    disp = [(1.0 / v - inv_f) / (inv_n - inv_f) for v in z]
    tmp = os.path.join(out, ".tmp_%d_%d" % (seed, k))
    os.makedirs(tmp, exist_ok=True)
    depth_png = os.path.join(tmp, "depth.png")
    ms.png16(depth_png, W, H, 1, disp)

    scene.view_layers[0].use_pass_z = False
    ms.compositor_passes(scene, False)
    scene.cycles.filter_type = "BLACKMAN_HARRIS"
    scene.cycles.filter_width = 1.5
    scene.cycles.samples = max(16, samples // 2)
    input_png = os.path.join(tmp, "input.png")
    ms.render_to(scene, input_png, False)

    # Focus: the nearest object, a middle one, the far part of the scene (then random depths).
    visible = [d for d in depths if z_near <= d <= z_far] or [z_near * 1.5]
    targets = [visible[0], visible[len(visible) // 2], rng.uniform(0.5, 0.95) * z_far]
    while len(targets) < settings:
        targets.append(math.exp(rng.uniform(math.log(z_near), math.log(z_far))))
    cam.dof.use_dof = True
    cam.dof.aperture_blades = 0
    scene.cycles.samples = samples
    metas = []
    for j, name in enumerate(names):
        focus_z = min(max(targets[j], z_near * 1.01), z_far * 0.99)
        max_blur = round(rng.uniform(0.01, 0.06) * W, 2)
        focus = (1.0 / focus_z - inv_f) / (inv_n - inv_f)
        f_m = ms.FOCAL_MM / 1000.0
        fstop = 0.5 * f_m * f_m / (ms.SENSOR_MM / 1000.0) * W * (inv_n - inv_f) / max_blur
        cam.dof.focus_distance = focus_z
        cam.dof.aperture_fstop = fstop
        t = time.perf_counter()
        ms.render_to(scene, os.path.join(tmp, name + "_dof.png"), True)
        metas.append((name, focus, max_blur, focus_z, fstop, time.perf_counter() - t))
    # The peer needs a fresh Blender scene; do it after every thin-lens render of this layout.
    for name, focus, max_blur, focus_z, fstop, cycles_s in metas:
        coc = os.path.join(tmp, name + "_coc.png")
        ms.png16(coc, W, H, 1, [abs(d - focus) for d in disp])
        node_s = ms.defocus_peer(name, max_blur, coc, repeats=1, input_path=input_png, out_path=os.path.join(tmp, name + "_defocus.png"), size=size)
        for src, dst in [(input_png, "input"), (depth_png, "depth"), (os.path.join(tmp, name + "_dof.png"), "dof"), (os.path.join(tmp, name + "_defocus.png"), "defocus")]:
            shutil.copyfile(src, os.path.join(out, "%s_%s.png" % (name, dst)))
        meta = {
            "focus": round(focus, 6), "max_blur": max_blur, "width": W, "height": H,
            "focus_distance_m": round(focus_z, 4), "f_stop": round(fstop, 4), "focal_mm": ms.FOCAL_MM,
            "sensor_mm": ms.SENSOR_MM, "z_near_m": round(z_near, 4), "z_far_m": round(z_far, 4),
            "cycles_samples": samples, "cycles_seconds": round(cycles_s, 2), "defocus_node_seconds": round(node_s, 4),
            "threads": ms.THREADS, "seed": seed, "layout": k, "shading": "sun" if lit else "emission",
        }
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
        print("scene", name, meta, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []

    def opt(name, default):
        return argv[argv.index(name) + 1] if name in argv else default

    out = opt("--out", None)
    if out is None:
        sys.exit("gen_thinlens.py: --out DIR is required")
    seed, count = int(opt("--seed", "0")), int(opt("--count", "1"))
    size = tuple(int(v) for v in opt("--size", "640x360").split("x"))
    samples, settings = int(opt("--samples", "128")), int(opt("--focus-settings", "3"))
    first = int(opt("--first", "0"))
    ms.THREADS = int(opt("--threads", "2"))
    os.makedirs(out, exist_ok=True)
    for k in range(first, first + count):
        render_scene(out, seed, k, size, samples, settings)


if __name__ == "__main__":
    main()
