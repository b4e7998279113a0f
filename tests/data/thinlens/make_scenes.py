"""True thin-lens depth-of-field ground truth, rendered with Blender's Cycles.

Run from the repository root (Debian's blender 3.4, CPU):

    blender -b -P tests/data/thinlens/make_scenes.py -- [--only NAME] [--samples N]
    blender -b -P tests/data/thinlens/make_scenes.py -- --defocus-only   # re-time the peer
    blender -b -P tests/data/thinlens/make_scenes.py -- --time-640 target/release/deeplens
                     # issue 15's still bar: the scenes at 640x360, 5 % blur, both timed in turn

For every scene this writes, next to this script:

* ``NAME_input.png``   all-in-focus render, 8-bit sRGB (what a renderer gets)
* ``NAME_depth.png``   planar Z converted to normalised disparity, 16-bit grey, 1 = nearest
* ``NAME_dof.png``     Cycles render with camera depth of field, 16-bit sRGB (the truth)
* ``NAME_defocus.png`` Blender's compositor Defocus node on the 8-bit input, fed the exact
                       circle of confusion as a radius map (a peer renderer), 16-bit sRGB
* ``NAME.json``        ``focus`` and ``max_blur`` in the normalised-disparity convention, the
                       camera settings, and the Defocus node's render time in seconds

Shading is emission only (textures are radiance), so the only randomness in a render is the
pixel and lens sampling and many samples make it clean. Small bright lights (emission strength
well above 1) clip in the 8-bit input, as highlights do in video.

Circle of confusion: r_px = 0.5 * (f / N) * f / sensor_width * W * |1/z - 1/z_f|. With
D = (1/z - 1/z_far) / (1/z_near - 1/z_far) this is max_blur * |D - D_f| with
max_blur = 0.5 * f^2 / (N * sensor_width) * W * (1/z_near - 1/z_far), so the f-stop N is chosen
to give the wanted max_blur.
"""

import json
import math
import os
import random
import struct
import sys
import time
import zlib

import bpy

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 320, 240
FOCAL_MM = 50.0
SENSOR_MM = 36.0
THREADS = 2


def png16(path, w, h, channels, values):
    """Write 16-bit PNG from row-major values in [0, 1] (top row first)."""
    raw = bytearray()
    stride = w * channels
    for y in range(h):
        raw.append(0)
        row = values[y * stride:(y + 1) * stride]
        raw += struct.pack(">%dH" % stride, *[max(0, min(65535, int(v * 65535.0 + 0.5))) for v in row])

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ctype = {1: 0, 3: 2}[channels]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 9)))
        f.write(chunk(b"IEND", b""))


# ---------------------------------------------------------------- scene building

def reset():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.render.threads_mode = "FIXED"
    scene.render.threads = THREADS
    scene.render.resolution_x = W
    scene.render.resolution_y = H
    scene.render.resolution_percentage = 100
    scene.cycles.max_bounces = 0
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.seed = 1
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.display_settings.display_device = "sRGB"
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[1].default_value = 0.0
    scene.world = world
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = FOCAL_MM
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = SENSOR_MM
    cam_data.clip_start = 0.05
    cam_data.clip_end = 500.0
    cam = bpy.data.objects.new("cam", cam_data)
    # Looking along +Y, so the planar depth of a point is its y coordinate.
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    return scene


def emission_material(rng, kind, strength=1.0, detail=1.0):
    mat = bpy.data.materials.new("m%d" % rng.randrange(1 << 30))
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    em = nt.nodes.new("ShaderNodeEmission")
    em.inputs["Strength"].default_value = strength
    nt.links.new(em.outputs[0], out.inputs["Surface"])
    cols = [(rng.random() ** 1.5, rng.random() ** 1.5, rng.random() ** 1.5, 1.0) for _ in range(2)]
    if kind == "flat":
        em.inputs["Color"].default_value = cols[0]
        return mat
    coord = nt.nodes.new("ShaderNodeTexCoord")
    if kind == "noise":
        tex = nt.nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = rng.uniform(2.0, 12.0) * detail
        tex.inputs["Detail"].default_value = rng.uniform(2.0, 8.0)
        fac = tex.outputs["Fac"]
    elif kind == "voronoi":
        tex = nt.nodes.new("ShaderNodeTexVoronoi")
        tex.inputs["Scale"].default_value = rng.uniform(3.0, 15.0) * detail
        fac = tex.outputs["Distance"]
    elif kind == "brick":
        tex = nt.nodes.new("ShaderNodeTexBrick")
        tex.inputs["Scale"].default_value = rng.uniform(2.0, 8.0) * detail
        tex.inputs["Color1"].default_value = cols[0]
        tex.inputs["Color2"].default_value = cols[1]
        tex.inputs["Mortar"].default_value = (0.9, 0.9, 0.85, 1.0)
        nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], em.inputs["Color"])
        return mat
    elif kind == "checker":
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = rng.uniform(3.0, 10.0) * detail
        fac = tex.outputs["Fac"]
    else:  # wave
        tex = nt.nodes.new("ShaderNodeTexWave")
        tex.inputs["Scale"].default_value = rng.uniform(2.0, 8.0) * detail
        tex.inputs["Distortion"].default_value = rng.uniform(0.0, 8.0)
        fac = tex.outputs["Fac"]
    nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])
    ramp = nt.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = cols[0]
    ramp.color_ramp.elements[1].color = cols[1]
    nt.links.new(fac, ramp.inputs["Fac"])
    nt.links.new(ramp.outputs["Color"], em.inputs["Color"])
    return mat


TEXTURES = ["noise", "voronoi", "brick", "checker", "wave"]


def add(obj_op, mat, **kw):
    obj_op(**kw)
    ob = bpy.context.active_object
    ob.data.materials.append(mat)
    return ob


def half_extent(z):
    """Half width and half height of the view at planar depth z."""
    hw = z * 0.5 * SENSOR_MM / FOCAL_MM
    return hw, hw * H / W


def backdrop(rng, z, tex=None):
    hw, hh = half_extent(z)
    ob = add(bpy.ops.mesh.primitive_plane_add, emission_material(rng, tex or rng.choice(TEXTURES), detail=6.0), size=1.0, location=(0, z, 0), rotation=(math.pi / 2, 0, 0))
    ob.scale = (hw * 2.6, hh * 2.6, 1)
    return ob


def lights(rng, n, z_lo, z_hi, spread=1.0):
    for _ in range(n):
        z = rng.uniform(z_lo, z_hi)
        hw, hh = half_extent(z)
        col = (rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0), rng.uniform(0.3, 1.0), 1.0)
        mat = emission_material(rng, "flat", strength=rng.uniform(4.0, 14.0))
        mat.node_tree.nodes["Emission"].inputs["Color"].default_value = col
        add(bpy.ops.mesh.primitive_uv_sphere_add, mat, radius=z * rng.uniform(0.004, 0.008), location=(rng.uniform(-hw, hw) * spread, z, rng.uniform(-hh, hh) * spread), segments=16, ring_count=8)


def thing(rng, kind, x, z, y, size):
    mat = emission_material(rng, rng.choice(TEXTURES))
    rot = (rng.uniform(0, math.pi), rng.uniform(0, math.pi), rng.uniform(0, math.pi))
    if kind == "cube":
        return add(bpy.ops.mesh.primitive_cube_add, mat, size=size, location=(x, z, y), rotation=rot)
    if kind == "sphere":
        return add(bpy.ops.mesh.primitive_uv_sphere_add, mat, radius=size / 2, location=(x, z, y), segments=48, ring_count=24)
    if kind == "monkey":
        ob = add(bpy.ops.mesh.primitive_monkey_add, mat, size=size, location=(x, z, y), rotation=(math.pi / 2 + rng.uniform(-0.3, 0.3), 0, math.pi + rng.uniform(-0.5, 0.5)))
        ob.modifiers.new("s", "SUBSURF").levels = 2
        return ob
    if kind == "cylinder":
        return add(bpy.ops.mesh.primitive_cylinder_add, mat, radius=size / 3, depth=size * 2.5, location=(x, z, y), rotation=(rng.uniform(-0.3, 0.3), 0, 0))
    return add(bpy.ops.mesh.primitive_torus_add, mat, major_radius=size / 2, minor_radius=size / 7, location=(x, z, y), rotation=(math.pi / 2 + rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), 0))


def scene_portrait(rng):
    backdrop(rng, 9.0)
    lights(rng, 14, 8.0, 8.9)
    thing(rng, "monkey", 0.1, 2.5, 0.0, 0.8)
    thing(rng, "cube", -0.55, 1.2, -0.15, 0.35)
    thing(rng, "torus", 0.9, 4.5, 0.3, 0.7)
    return 2.5, 18.0


def scene_shelf(rng):
    backdrop(rng, 10.0)
    lights(rng, 10, 9.0, 9.9)
    for z, x in [(1.6, -0.3), (2.6, 0.4), (4.0, -0.5), (5.5, 0.9), (7.5, -1.6)]:
        hw, hh = half_extent(z)
        thing(rng, rng.choice(["cube", "sphere", "cylinder", "torus"]), x * hw / 1.0 * 0.6, z, rng.uniform(-0.5, 0.5) * hh, 0.28 * z ** 0.8)
    lights(rng, 4, 3.0, 5.0, spread=0.7)
    return 4.0, 18.0


def scene_ground(rng):
    backdrop(rng, 30.0)
    ground = add(bpy.ops.mesh.primitive_plane_add, emission_material(rng, rng.choice(["checker", "brick", "noise"]), detail=20.0), size=1.0, location=(0, 15.0, -0.8))
    ground.scale = (30.0, 30.0, 1)
    for z, x in [(2.5, 0.45), (5.0, -0.9), (11.0, 1.8)]:
        thing(rng, rng.choice(["cube", "sphere", "monkey", "cylinder"]), x, z, -0.8 + 0.25 * z ** 0.7, 0.45 * z ** 0.7)
    lights(rng, 12, 20.0, 29.0)
    return 5.0, 20.0


def scene_front(rng):
    backdrop(rng, 7.0)
    lights(rng, 16, 5.5, 6.9)
    thing(rng, "sphere", -0.1, 1.3, 0.05, 0.4)
    thing(rng, "cylinder", 0.5, 3.0, -0.1, 0.5)
    thing(rng, "cube", -0.9, 4.5, 0.3, 0.8)
    return 1.3, 16.0


SCENES = {"portrait": scene_portrait, "shelf": scene_shelf, "ground": scene_ground, "front": scene_front}


# ---------------------------------------------------------------- rendering

def compositor_passes(scene, depth_viewer):
    scene.use_nodes = True
    nt = scene.node_tree
    nt.nodes.clear()
    rl = nt.nodes.new("CompositorNodeRLayers")
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
    if depth_viewer:
        out = nt.nodes.new("CompositorNodeOutputFile")
        out.base_path = "/tmp/deeplens_thinlens_z"
        out.format.file_format = "OPEN_EXR"
        out.format.color_depth = "32"
        out.file_slots[0].path = "z"
        nt.links.new(rl.outputs["Depth"], out.inputs[0])


def render_to(scene, path, depth16):
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.color_depth = "16" if depth16 else "8"
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)


def read_depth():
    img = bpy.data.images.load("/tmp/deeplens_thinlens_z/z%04d.exr" % bpy.context.scene.frame_current)
    w, h = img.size
    px = [0.0] * (w * h * 4)
    img.pixels.foreach_get(px)
    # Blender's pixel rows go bottom to top.
    return [px[((h - 1 - y) * w + x) * 4] for y in range(h) for x in range(w)]


def defocus_peer(name, max_blur, coc_path, repeats=3, input_path=None, out_path=None, size=None):
    """Blender's Defocus node on the 8-bit input with the exact radius map; returns seconds."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = size or (W, H)
    scene.render.resolution_percentage = 100
    scene.render.threads_mode = "FIXED"
    scene.render.threads = THREADS
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.use_nodes = True
    nt = scene.node_tree
    nt.nodes.clear()
    img = nt.nodes.new("CompositorNodeImage")
    img.image = bpy.data.images.load(input_path or os.path.join(HERE, name + "_input.png"))
    coc = nt.nodes.new("CompositorNodeImage")
    coc.image = bpy.data.images.load(coc_path)
    coc.image.colorspace_settings.name = "Non-Color"
    defocus = nt.nodes.new("CompositorNodeDefocus")
    defocus.use_zbuffer = False  # the Z input is the radius map, times z_scale
    defocus.z_scale = max_blur
    defocus.blur_max = max_blur + 1.0
    defocus.use_preview = False
    defocus.bokeh = "CIRCLE"
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(img.outputs["Image"], defocus.inputs["Image"])
    nt.links.new(coc.outputs["Image"], defocus.inputs["Z"])
    nt.links.new(defocus.outputs["Image"], comp.inputs["Image"])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        render_to(scene, out_path or os.path.join(HERE, name + "_defocus.png"), True)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def make(name, samples):
    rng = random.Random(name)
    scene = reset()
    focus_z, max_blur = SCENES[name](rng)
    cam = scene.camera.data

    # Planar depth, sampled at pixel centres (one sample, a tiny box filter).
    scene.view_layers[0].use_pass_z = True
    compositor_passes(scene, True)
    scene.cycles.samples = 1
    scene.cycles.filter_type = "BOX"
    scene.cycles.filter_width = 0.01
    render_to(scene, "/tmp/deeplens_thinlens_z.png", False)
    z = read_depth()
    z_near, z_far = min(z), max(z)
    inv = [1.0 / v for v in z]
    inv_n, inv_f = 1.0 / z_near, 1.0 / z_far
    disp = [(v - inv_f) / (inv_n - inv_f) for v in inv]
    png16(os.path.join(HERE, name + "_depth.png"), W, H, 1, disp)
    focus = (1.0 / focus_z - inv_f) / (inv_n - inv_f)
    f_m = FOCAL_MM / 1000.0
    fstop = 0.5 * f_m * f_m / (SENSOR_MM / 1000.0) * W * (inv_n - inv_f) / max_blur

    # All-in-focus input and the thin-lens truth, with the default pixel filter.
    scene.view_layers[0].use_pass_z = False
    compositor_passes(scene, False)
    scene.cycles.filter_type = "BLACKMAN_HARRIS"
    scene.cycles.filter_width = 1.5
    scene.cycles.samples = 64
    render_to(scene, os.path.join(HERE, name + "_input.png"), False)
    cam.dof.use_dof = True
    cam.dof.focus_distance = focus_z
    cam.dof.aperture_fstop = fstop
    cam.dof.aperture_blades = 0
    scene.cycles.samples = samples
    t = time.perf_counter()
    render_to(scene, os.path.join(HERE, name + "_dof.png"), True)
    cycles_s = time.perf_counter() - t

    # The peer: the exact radius map, divided by max_blur to fit a 16-bit PNG.
    coc_path = "/tmp/deeplens_thinlens_%s_coc.png" % name
    png16(coc_path, W, H, 1, [abs(d - focus) for d in disp])
    defocus_s = defocus_peer(name, max_blur, coc_path)

    meta = {
        "focus": round(focus, 6),
        "max_blur": max_blur,
        "width": W,
        "height": H,
        "focus_distance_m": focus_z,
        "f_stop": round(fstop, 4),
        "focal_mm": FOCAL_MM,
        "sensor_mm": SENSOR_MM,
        "z_near_m": round(z_near, 4),
        "z_far_m": round(z_far, 4),
        "cycles_samples": samples,
        "cycles_seconds": round(cycles_s, 2),
        "defocus_node_seconds": round(defocus_s, 4),
        "threads": THREADS,
    }
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(meta, f, indent=2)
    print("scene", name, meta)


def retime_defocus(name):
    """Re-run only the Defocus peer from the committed files (to time it on a quiet machine)."""
    meta_path = os.path.join(HERE, name + ".json")
    with open(meta_path) as f:
        meta = json.load(f)
    depth = bpy.data.images.load(os.path.join(HERE, name + "_depth.png"))
    depth.colorspace_settings.name = "Non-Color"
    w, h = depth.size
    px = [0.0] * (w * h * 4)
    depth.pixels.foreach_get(px)
    # Back to top-first rows.
    disp = [px[((h - 1 - y) * w + x) * 4] for y in range(h) for x in range(w)]
    coc_path = "/tmp/deeplens_thinlens_%s_coc.png" % name
    png16(coc_path, w, h, 1, [abs(d - meta["focus"]) for d in disp])
    meta["defocus_node_seconds"] = round(defocus_peer(name, meta["max_blur"], coc_path, repeats=5), 4)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    print("defocus", name, meta["defocus_node_seconds"])


def time_640(binary, blur_share=0.05, runs=5):
    """Issue 15's still bar: each scene's input and depth scaled to 640x360, blur 5 % of the width
    (32 px); the Defocus node's render time (median of 3) beside the whole `deeplens image ...
    --renderer physical` process (median of `runs`), in turn, in this one run."""
    import subprocess
    size = (640, 360)
    blur = blur_share * size[0]
    tmp = "/tmp/deeplens_time640"
    os.makedirs(tmp, exist_ok=True)
    for name in SCENES:
        with open(os.path.join(HERE, name + ".json")) as f:
            focus = json.load(f)["focus"]
        im = bpy.data.images.load(os.path.join(HERE, name + "_input.png"))
        im.scale(*size)
        inp = os.path.join(tmp, name + "_input.png")
        im.filepath_raw, im.file_format = inp, "PNG"
        im.save()
        dep = bpy.data.images.load(os.path.join(HERE, name + "_depth.png"))
        dep.colorspace_settings.name = "Non-Color"
        dep.scale(*size)
        w, h = size
        px = [0.0] * (w * h * 4)
        dep.pixels.foreach_get(px)
        disp = [px[((h - 1 - y) * w + x) * 4] for y in range(h) for x in range(w)]
        depth_path, coc_path = os.path.join(tmp, name + "_depth.png"), os.path.join(tmp, name + "_coc.png")
        png16(depth_path, w, h, 1, disp)
        png16(coc_path, w, h, 1, [abs(d - focus) for d in disp])
        node_s = defocus_peer(name, blur, coc_path, repeats=3, input_path=inp, out_path=os.path.join(tmp, name + "_defocus.png"), size=size)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([binary, "image", inp, os.path.join(tmp, name + "_physical.png"), "-y", "--depth", depth_path,
                            "--focus", str(focus), "--max-blur", str(blur), "--renderer", "physical"], check=True)
            times.append(time.perf_counter() - t)
        times.sort()
        ours = times[len(times) // 2]
        print("time640 %s: Defocus node %.3f s, deeplens image whole process %.3f s (runs %s), ratio 1/%.1f"
              % (name, node_s, ours, " ".join("%.3f" % t for t in times), node_s / ours), flush=True)


def main():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    if "--time-640" in argv:
        time_640(argv[argv.index("--time-640") + 1])
        return
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    samples = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else 1024
    for name in SCENES:
        if only is None or name == only:
            if "--defocus-only" in argv:
                retime_defocus(name)
            else:
                make(name, samples)


if __name__ == "__main__":  # Blender runs -P scripts as __main__; gen_thinlens.py imports this file
    main()
