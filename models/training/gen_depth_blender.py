"""RGB-D renders for the depth network: rooms and open ground with furniture-sized objects, or with
`--subject` photographs of one main subject in front of a wall (often with shelves of clutter), ray
traced by Blender's Cycles with sun and sky light (shading, shadows, perspective and texture
gradients as in photographs), scikit-image photo textures (or with `--materials real` paint and
procedural materials at metre scale, photos printed once on objects), meshes from pybullet_data
(1,000 random objects, toys) and Blender's primitives; `--tables` and `--near-clutter` vary the
subject layout.

Run (Debian's blender 3.4, CPU; resumable, existing samples are skipped):

    blender -b -P models/training/gen_depth_blender.py -- --out DIR --count N --seed S \
        --meshes /work/data/pybullet/pybullet_data --textures /work/data/textures

For sample i it writes DIR/iiiii.png (8-bit sRGB, what a camera gives) and DIR/iiiii.raw
(float32, H×W×2, bottom row first: camera Z in metres, about 1e10 for the sky; object index, > 0
on the objects). `depth_npz.py` packs a folder into the npz the depth trainer reads.
"""

import array
import glob
import math
import os
import random
import sys
import time

import bpy

W, H = 160, 128
SENSOR_W = 36.0  # mm, the camera's sensor width (full frame)


def args():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--meshes", required=True, help="pybullet_data folder")
    ap.add_argument("--textures", required=True, help="folder of photos")
    ap.add_argument("--subject", type=float, default=0.0,
                    help="share of scenes framed as a photograph of one main subject (see `build_subject`)")
    ap.add_argument("--materials", choices=["photo", "real"], default="photo",
                    help="photo: scikit-image photos tiled over surfaces (the earlier renders); real: paint, "
                         "procedural wood/tile/brick/plaster/stone at metre scale, photos printed once on objects")
    ap.add_argument("--tables", type=float, default=0.0,
                    help="share of subject photographs whose subject stands on a table with clutter")
    ap.add_argument("--near-clutter", type=float, default=0.0,
                    help="share of subject photographs with small objects strewn on the floor in front of the subject")
    return ap.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])


def setup(samples):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.engine = "CYCLES"
    sc.cycles.device = "CPU"
    sc.cycles.samples = samples
    sc.cycles.use_denoising = False  # Debian's build has no OpenImageDenoise
    sc.cycles.max_bounces = 3
    sc.render.threads_mode = "FIXED"
    sc.render.threads = 2
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = W, H, 100
    sc.view_settings.view_transform = "Standard"
    sc.render.image_settings.file_format = "PNG"
    sc.render.image_settings.color_mode = "RGB"
    sc.world = bpy.data.worlds.new("world")
    sc.world.use_nodes = True
    vl = sc.view_layers[0]
    vl.use_pass_z = True
    vl.use_pass_object_index = True
    sc.use_nodes = True
    nt = sc.node_tree
    nt.nodes.clear()
    rl = nt.nodes.new("CompositorNodeRLayers")
    comb = nt.nodes.new("CompositorNodeCombRGBA")
    out = nt.nodes.new("CompositorNodeOutputFile")
    out.format.file_format = "OPEN_EXR"
    out.format.color_depth = "32"
    out.format.color_mode = "RGB"
    comp = nt.nodes.new("CompositorNodeComposite")
    nt.links.new(rl.outputs["Image"], comp.inputs["Image"])
    nt.links.new(rl.outputs["Depth"], comb.inputs["R"])
    nt.links.new(rl.outputs["IndexOB"], comb.inputs["G"])
    nt.links.new(comb.outputs["Image"], out.inputs[0])
    return sc, out


def reset_scene():
    for o in list(bpy.data.objects):
        bpy.data.objects.remove(o, do_unlink=True)
    for coll in (bpy.data.meshes, bpy.data.materials, bpy.data.images, bpy.data.lights, bpy.data.cameras):
        for b in list(coll):
            if b.users == 0:
                coll.remove(b)


MATERIALS = "photo"  # set by --materials
TABLES = 0.0  # set by --tables
NEAR_CLUTTER = 0.0  # set by --near-clutter


def principled(rng, rough_min):
    """A new node material with a Principled BSDF of random roughness and specular."""
    m = bpy.data.materials.new("m")
    m.use_nodes = True
    bsdf = m.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = rng.uniform(rough_min, 1.0)
    bsdf.inputs["Specular"].default_value = rng.uniform(0.1, 0.6)
    return m, m.node_tree, bsdf


def material(rng, photos, surface="object"):
    """A fresh material; `surface` (object, floor, wall) only matters for --materials real."""
    if MATERIALS == "real":
        return material_real(rng, photos, surface)
    m, nt, bsdf = principled(rng, 0.3)
    if photos and rng.random() < 0.75:
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(rng.choice(photos), check_existing=True)
        tex.projection = "BOX"
        tex.projection_blend = 0.2
        coord = nt.nodes.new("ShaderNodeTexCoord")
        mapping = nt.nodes.new("ShaderNodeMapping")
        s = rng.uniform(0.3, 3.0)
        mapping.inputs["Scale"].default_value = (s, s, s)
        mapping.inputs["Rotation"].default_value = (0, 0, rng.uniform(0, 6.28))
        nt.links.new(coord.outputs["Object"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        if rng.random() < 0.5:  # tinted
            mix = nt.nodes.new("ShaderNodeMixRGB")
            mix.blend_type = "MULTIPLY"
            mix.inputs["Fac"].default_value = rng.uniform(0.2, 0.8)
            mix.inputs["Color2"].default_value = (*[rng.uniform(0.3, 1) for _ in range(3)], 1)
            nt.links.new(tex.outputs["Color"], mix.inputs["Color1"])
            nt.links.new(mix.outputs["Color"], bsdf.inputs["Base Color"])
        else:
            nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        bsdf.inputs["Base Color"].default_value = (*[rng.uniform(0.05, 0.9) ** 1.5 for _ in range(3)], 1)
    return m


def node(nt, kind, **inputs):
    n = nt.nodes.new(kind)
    for k, v in inputs.items():
        n.inputs[k].default_value = v
    return n


def material_real(rng, photos, surface):
    """Materials as surfaces in photographs look: a paint colour, often with a procedural pattern at
    a physical scale in metres (wood grain, tiles, bricks, plaster or fabric noise, stone cells) and,
    on objects, sometimes one photograph printed once over the object (a box, a book cover, a
    label) — never a photograph tiled as wallpaper, which teaches a network to read pictures of
    scenes as flat."""
    m, nt, bsdf = principled(rng, 0.25)
    base = [rng.uniform(0.05, 0.95) ** 1.6 for _ in range(3)]
    if rng.random() < 0.5:  # muted, as most walls, floors and things are
        grey = sum(base) / 3
        t = rng.uniform(0.3, 0.9)
        base = [grey + (c - grey) * (1 - t) for c in base]
    color = (*base, 1)
    if surface == "object" and photos and rng.random() < 0.3:
        tex = nt.nodes.new("ShaderNodeTexImage")
        tex.image = bpy.data.images.load(rng.choice(photos), check_existing=True)
        tex.projection = "BOX"
        tex.projection_blend = 0.1
        tex.extension = "EXTEND"
        coord = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coord.outputs["Generated"], tex.inputs["Vector"])  # 0..1 over the object: printed once
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        return m
    pattern = rng.choice({"object": ["plain", "plain", "noise", "wave", "checker", "voronoi"],
                          "floor": ["noise", "wave", "checker", "brick", "voronoi", "plain"],
                          "wall": ["plain", "plain", "noise", "brick", "wave"]}[surface])
    if pattern == "plain":
        bsdf.inputs["Base Color"].default_value = color
        return m
    k = rng.uniform(0.6, 1.4)
    other = (*[min(1.0, c * k + rng.uniform(-0.08, 0.08)) for c in base], 1)
    coord = nt.nodes.new("ShaderNodeTexCoord")
    if pattern == "noise":  # plaster, fabric, concrete, carpet
        tex = node(nt, "ShaderNodeTexNoise", Scale=rng.uniform(2, 60), Detail=rng.uniform(2, 10),
                   Roughness=rng.uniform(0.4, 0.7))
    elif pattern == "wave":  # wood grain
        tex = node(nt, "ShaderNodeTexWave", Scale=rng.uniform(1, 8), Distortion=rng.uniform(2, 12),
                   Detail=rng.uniform(1, 4))
        tex.wave_type = rng.choice(["BANDS", "RINGS"])
    elif pattern == "checker":  # tiles
        tex = node(nt, "ShaderNodeTexChecker", Scale=rng.uniform(1.5, 12))
    elif pattern == "brick":
        tex = node(nt, "ShaderNodeTexBrick", Scale=rng.uniform(1, 4), Mortar=(*[c * 0.6 + 0.3 for c in base], 1))
        tex.inputs["Mortar Size"].default_value = rng.uniform(0.005, 0.03)
    else:  # stone, pebbles
        tex = node(nt, "ShaderNodeTexVoronoi", Scale=rng.uniform(3, 25))
    nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])  # metres: density follows distance
    if pattern in ("checker", "brick"):
        tex.inputs["Color1"].default_value = color
        tex.inputs["Color2"].default_value = other
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        mix = node(nt, "ShaderNodeMixRGB", Color1=color, Color2=other)
        out = tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs["Distance"]
        nt.links.new(out, mix.inputs["Fac"])
        nt.links.new(mix.outputs["Color"], bsdf.inputs["Base Color"])
    return m


def add_camera(sc, location, pitch, yaw, lens):
    """The scene's camera at `location`, pitched (radians, negative = down) and turned (yaw)."""
    bpy.ops.object.camera_add(location=location)
    cam = bpy.context.object
    cam.rotation_euler = (math.pi / 2 + pitch, 0, yaw)
    cam.data.lens = lens
    cam.data.sensor_width = SENSOR_W
    cam.data.clip_end = 500
    sc.camera = cam
    return cam


def dress(o, rng, photos, index=0):
    """Give an imported or primitive object a fresh material; index > 0 marks it foreground."""
    o.pass_index = index
    o.data.materials.clear()
    o.data.materials.append(material(rng, photos))


def plane(size, loc, rot, mat):
    bpy.ops.mesh.primitive_plane_add(size=size, location=loc, rotation=rot)
    o = bpy.context.object
    o.data.materials.append(mat)
    return o


def add_object(rng, meshes):
    r = rng.random()
    if r < 0.55 and meshes:
        bpy.ops.wm.obj_import(filepath=rng.choice(meshes))
        objs = list(bpy.context.selected_objects)
        if not objs:
            return None
        bpy.context.view_layer.objects.active = objs[0]
        if len(objs) > 1:
            bpy.ops.object.join()
        o = bpy.context.object
    else:
        kind = rng.choice(["cube", "cylinder", "sphere", "cone", "monkey", "torus", "box"])
        if kind == "cube" or kind == "box":
            bpy.ops.mesh.primitive_cube_add()
        elif kind == "cylinder":
            bpy.ops.mesh.primitive_cylinder_add(vertices=32)
        elif kind == "sphere":
            bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16)
        elif kind == "cone":
            bpy.ops.mesh.primitive_cone_add(vertices=32)
        elif kind == "monkey":
            bpy.ops.mesh.primitive_monkey_add()
        else:
            bpy.ops.mesh.primitive_torus_add()
        o = bpy.context.object
        if kind == "box":
            o.scale = (rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5))
        if kind in ("sphere", "monkey", "torus", "cylinder") and rng.random() < 0.5:
            bpy.ops.object.shade_smooth()
    o.rotation_euler = (rng.uniform(-0.2, 0.2) if rng.random() < 0.3 else 0, 0, rng.uniform(0, 6.28))
    bpy.ops.object.transform_apply(location=False, rotation=True, scale=True)
    return o


def place(o, rng, size, x, y, floating):
    dims = o.dimensions
    s = size / max(max(dims), 1e-3)
    o.scale = (s, s, s)
    bpy.context.view_layer.update()
    zmin = min((o.matrix_world @ v.co).z for v in o.data.vertices)
    z = rng.uniform(0.3, 1.6) if floating else 0.0
    o.location = (x, y, o.location.z - zmin + z)


def build(rng, photos, meshes, sc):
    reset_scene()
    sky = [rng.uniform(0.4, 1.0), rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0)]
    bg = sc.world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*sky, 1)
    bg.inputs["Strength"].default_value = rng.uniform(0.3, 1.2)
    plane(200, (0, 0, 0), (0, 0, 0), material(rng, photos, "floor"))
    indoor = rng.random() < 0.65
    back = rng.uniform(3.0, 14.0)
    if indoor:
        height = rng.uniform(2.4, 4.0)
        plane(60, (0, back, 30 if rng.random() < 0.5 else height / 2 + 29), (math.pi / 2, 0, 0),
              material(rng, photos, "wall"))
        for side in (-1, 1):
            if rng.random() < 0.7:
                plane(60, (side * rng.uniform(1.5, 5.0), 0, 30), (0, math.pi / 2, 0), material(rng, photos, "wall"))
        if rng.random() < 0.4:
            plane(60, (0, 0, height), (0, 0, 0), material(rng, photos, "wall"))
    cam_h = rng.uniform(0.4, 2.0)
    x = rng.uniform(-0.5, 0.5)
    pitch = math.radians(rng.uniform(-28, 6))
    yaw = math.radians(rng.uniform(-15, 15))
    cam = add_camera(sc, (x, 0, cam_h), pitch, yaw, rng.uniform(18, 50))
    half = math.atan(SENSOR_W / 2 / cam.data.lens)  # horizontal half field of view
    for _ in range(rng.randint(2, 8)):
        o = add_object(rng, meshes)
        if o is None:
            continue
        floating = rng.random() < 0.15
        dist = rng.uniform(0.8, 3.0) if floating else rng.uniform(1.2, max(1.5, back - 0.5) if indoor else 14.0)
        ang = yaw + rng.uniform(-half, half) * 0.9
        place(o, rng, rng.uniform(0.3, 1.8) * (0.5 if floating else 1.0), cam.location.x - dist * math.sin(ang),
              dist * math.cos(ang), floating)
        dress(o, rng, photos, index=1)
    lights(rng, back, indoor)


def lights(rng, back, indoor):
    bpy.ops.object.light_add(type="SUN", rotation=(rng.uniform(0.2, 1.2), 0, rng.uniform(0, 6.28)))
    sun = bpy.context.object
    sun.data.energy = rng.uniform(1.0, 5.0)
    sun.data.angle = rng.uniform(0.01, 0.3)
    if indoor and rng.random() < 0.7:
        bpy.ops.object.light_add(type="POINT", location=(rng.uniform(-2, 2), rng.uniform(1, back), rng.uniform(1.8, 3.0)))
        bpy.context.object.data.energy = rng.uniform(100, 800)
    if MATERIALS == "real":  # a soft ceiling light or window in front of the wall: indoor photographs are lit
        bpy.ops.object.light_add(type="AREA", location=(rng.uniform(-2, 2), rng.uniform(-1.0, 0.6) * back,
                                                        rng.uniform(2.0, 3.5)),
                                 rotation=(rng.uniform(-0.6, 0.2), rng.uniform(-0.4, 0.4), 0))
        bpy.context.object.data.size = rng.uniform(1.0, 3.0)
        bpy.context.object.data.energy = rng.uniform(15, 150) * (1 + back / 4)


def build_subject(rng, photos, meshes, sc):
    """A photograph of one main subject: one to three objects standing on the floor (or, with
    --tables, on a table with clutter) near the middle of the frame at 0.6-4 m, filling a good part
    of it, with a back wall (often with shelves of clutter against it) 0.3-4 m behind, with
    --near-clutter small objects on the floor in front, the camera at eye or table height aimed at
    the subject."""
    reset_scene()
    bg = sc.world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0), 1)
    bg.inputs["Strength"].default_value = rng.uniform(0.3, 1.0)
    plane(200, (0, 0, 0), (0, 0, 0), material(rng, photos, "floor"))
    dist = rng.uniform(0.6, 4.0)
    back = dist + rng.uniform(0.3, 4.0)
    plane(80, (0, back, 40), (math.pi / 2, 0, 0), material(rng, photos, "wall"))
    for side in (-1, 1):
        if rng.random() < 0.35:
            plane(80, (side * rng.uniform(1.0, 4.0) * (1 + dist / 2), 0, 40), (0, math.pi / 2, 0),
                  material(rng, photos, "wall"))
    lens = rng.uniform(20, 60)
    vfov = 2 * math.atan(SENSOR_W / 2 * H / W / lens)
    view_h = 2 * dist * math.tan(vfov / 2)  # height of the frame at the subject's distance
    size = view_h * rng.uniform(0.35, 0.95)
    top = 0.0  # height of what the subject stands on: the floor, or with --tables a table top
    if TABLES > 0 and rng.random() < TABLES:
        top = rng.uniform(0.4, 0.9)
        size *= rng.uniform(0.4, 0.8)
    cam_h = rng.uniform(0.25, 1.2) * max(size, 0.3) + rng.uniform(0, 0.8) + top
    pitch = -math.atan2(cam_h - top - size * rng.uniform(0.3, 0.6), dist) + math.radians(rng.uniform(-4, 4))
    add_camera(sc, (0, 0, cam_h), pitch, math.radians(rng.uniform(-8, 8)), lens)
    half_w = dist * SENSOR_W / 2 / lens  # half the frame width at the subject's distance
    if top:
        depth = rng.uniform(0.5, 1.4)
        width = max(0.8, 2 * half_w * rng.uniform(0.8, 2.5))
        y0 = dist - rng.uniform(0.1, 0.4) * depth  # the table's front edge, nearer than the subject
        bpy.ops.mesh.primitive_cube_add(location=(rng.uniform(-0.3, 0.3) * half_w, y0 + depth / 2, top / 2))
        tab = bpy.context.object
        tab.scale = (width / 2, depth / 2, top / 2)
        tab.data.materials.append(material(rng, photos, "floor"))
        for _ in range(rng.randint(0, 5)):  # clutter on the table, in front of and behind the subject
            o = add_object(rng, meshes)
            if o is None:
                continue
            place(o, rng, size * rng.uniform(0.15, 0.6), rng.uniform(-0.45, 0.45) * width,
                  rng.uniform(y0 + 0.05, y0 + depth - 0.05), False)
            o.location.z += top
            dress(o, rng, photos)
    n = rng.choice([1, 1, 1, 2, 3])
    for k in range(n):
        o = add_object(rng, meshes)
        if o is None:
            continue
        s = size * (1.0 if k == 0 else rng.uniform(0.3, 0.7))
        place(o, rng, s, rng.gauss(0, 0.25) * half_w + (0 if k == 0 else rng.uniform(-0.8, 0.8) * half_w),
              dist + (0 if k == 0 else rng.uniform(-0.3, 0.5) * s), False)
        o.location.z += top
        dress(o, rng, photos, index=1)
    if NEAR_CLUTTER > 0 and rng.random() < NEAR_CLUTTER:
        # clutter on the floor between the camera and the subject, so that small busy things are not
        # always far (the shelves below put them against the back wall)
        for _ in range(rng.randint(3, 12)):
            o = add_object(rng, meshes)
            if o is None:
                continue
            y = rng.uniform(0.3, 1.0) * dist
            place(o, rng, rng.uniform(0.05, 0.3) * max(size, 0.3), rng.uniform(-1.0, 1.0) * y * SENSOR_W / 2 / lens,
                  y, False)
            dress(o, rng, photos)
    if rng.random() < 0.6:  # shelves of clutter against the back wall
        wide = 2 * back * SENSOR_W / 2 / lens * 1.3
        for level in range(rng.randint(1, 4)):
            z = 0.05 + level * rng.uniform(0.35, 0.6)
            bpy.ops.mesh.primitive_cube_add(location=(0, back - 0.25, z))
            shelf = bpy.context.object
            shelf.scale = (wide / 2, 0.22, 0.02)
            shelf.data.materials.append(material(rng, photos))
            for _ in range(rng.randint(1, 6)):
                o = add_object(rng, meshes)
                if o is None:
                    continue
                place(o, rng, rng.uniform(0.1, 0.35), rng.uniform(-0.5, 0.5) * wide, back - 0.25, False)
                o.location.z += z + 0.02
                dress(o, rng, photos)
    lights(rng, back, True)


def main():
    global MATERIALS, TABLES, NEAR_CLUTTER
    a = args()
    MATERIALS = a.materials
    TABLES = a.tables
    NEAR_CLUTTER = a.near_clutter
    os.makedirs(a.out, exist_ok=True)
    photos = sorted(p for p in glob.glob(os.path.join(a.textures, "*")) if "motorcycle" not in p)
    meshes = sorted(glob.glob(os.path.join(a.meshes, "random_urdfs", "*", "*.obj")))
    meshes += [os.path.join(a.meshes, n) for n in ("teddy2_VHACD_CHs.obj", "duck.obj", "bunny.obj", "soccerball.obj")
               if os.path.exists(os.path.join(a.meshes, n))]
    sc, zout = setup(a.samples)
    if MATERIALS == "real":  # a camera-like response: highlights roll off instead of clipping
        sc.view_settings.view_transform = "Filmic"
        sc.view_settings.look = "Medium Contrast"
    zout.base_path = os.path.join(a.out, f"tmp{os.getpid()}")  # one per process: parallel runs may share --out
    t0 = time.time()
    done = 0
    for i in range(a.start, a.start + a.count):
        stem = os.path.join(a.out, f"{i:05d}")
        if os.path.exists(stem + ".raw"):
            continue
        rng = random.Random(a.seed * 1_000_003 + i)
        # no draw when --subject is 0, so the earlier room renders replay exactly
        (build_subject if a.subject > 0 and rng.random() < a.subject else build)(rng, photos, meshes, sc)
        bpy.ops.render.render()
        bpy.data.images["Render Result"].save_render(stem + ".png")
        exr = glob.glob(os.path.join(zout.base_path, "*.exr"))[0]
        img = bpy.data.images.load(exr)
        px = array.array("f", bytes(4 * W * H * 4))
        img.pixels.foreach_get(px)
        bpy.data.images.remove(img)
        os.remove(exr)
        zi = array.array("f", bytes(4 * W * H * 2))
        zi[0::2] = px[0::4]
        zi[1::2] = px[1::4]
        with open(stem + ".raw.tmp", "wb") as f:
            f.write(zi.tobytes())
        os.replace(stem + ".raw.tmp", stem + ".raw")  # written last: it marks a finished sample
        done += 1
        print(f"{i} {(time.time() - t0) / done:.2f} s/sample", flush=True)
    if os.path.isdir(zout.base_path):
        os.rmdir(zout.base_path)  # empty: each EXR is removed once read


main()
