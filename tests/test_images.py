"""Images: segmentation, pixel-exact masking, image models (tiny random-initialised Hugging Face
models built from configs, no download), explain_image against brute force, the report, the CLI."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from interspect import explain_image
from interspect.applications.images import (
    ImageValueFunction,
    from_labels,
    grid,
    load_image,
    make_fill,
    masked_images,
    render_png,
)
from interspect.applications.images.digits import DigitsClassifier, digit_image
from interspect.applications.images.view import display_labels, image_view
from interspect.interface.cli import main
from interspect.interface.explanation import Explanation


def _image(h=24, w=30, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _all_masks(n):
    return ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(np.uint8)


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, msg
    return msg


# ---------------------------------------------------------------------------- segmentation


def test_grid_cells_partition_the_image_and_are_named_by_position():
    s = grid((7, 10, 3), 3, 4)
    assert s.n == 12 and s.names[0] == "r0c0" and s.names[5] == "r1c1" and s.names[-1] == "r2c3"
    assert sum(s.pixel_counts()) == 70 and min(s.pixel_counts()) >= 4
    # Each cell is the rectangle between consecutive edges, rows before columns.
    for r in range(3):
        for c in range(4):
            y0, y1, x0, x1 = s.y_edges[r], s.y_edges[r + 1], s.x_edges[c], s.x_edges[c + 1]
            assert (s.labels[y0:y1, x0:x1] == 4 * r + c).all()
    assert grid((5, 5), 5, 5).pixel_counts() == [1] * 25  # one pixel per cell is allowed


def test_label_map_segments_keep_the_callers_labels():
    lab = np.array([[5, 5, 9], [-1, 9, 9]])
    s = from_labels(lab, (2, 3, 1))
    assert s.names == ["seg-1", "seg5", "seg9"]
    assert (np.array(s.names)[s.labels] == np.vectorize(lambda v: f"seg{v}")(lab)).all()


def test_slic_superpixels_partition_the_image():
    pytest.importorskip("skimage", reason="scikit-image (images extra) not installed")
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = (250, 10, 10)
    e = explain_image(img, model=lambda ims: ims[..., 0].reshape(len(ims), -1).mean(1), segments="slic",
                      n_segments=4, method="exact", n_test=0)
    assert e.metadata["segments"]["kind"] == "slic" and e.n >= 2
    assert all(f.startswith("seg") for f in e.features)


# ---------------------------------------------------------------------------- masking


def _reference_blur(image, sigma):
    """Independent Gaussian blur: explicit normalised kernel, edge padding, separable, 4σ support."""
    r = int(4.0 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    x = image.astype(float)
    x = np.pad(x, ((r, r), (0, 0), (0, 0)), mode="edge")
    x = sum(k[j] * x[j : j + image.shape[0]] for j in range(2 * r + 1))
    x = np.pad(x, ((0, 0), (r, r), (0, 0)), mode="edge")
    x = sum(k[j] * x[:, j : j + image.shape[1]] for j in range(2 * r + 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("masking", ["blur", "mean", "color", "background"])
def test_masking_is_pixel_exact(masking, channels):
    img = _image(20, 26, channels, seed=1)
    bg = _image(20, 26, channels, seed=2)
    fill, info = make_fill(img, masking, blur_radius=2.5, color=(10, 200, 30) if channels == 3 else 77, background=bg)
    if masking == "blur":
        assert np.abs(fill.astype(int) - _reference_blur(img, 2.5)).max() <= 1  # rounding at .5 only
        assert info["blur_radius"] == 2.5
    elif masking == "mean":
        assert (fill == np.rint(img.reshape(-1, channels).mean(0)).astype(np.uint8)).all()
    elif masking == "color":
        assert (fill == (np.array([10, 200, 30]) if channels == 3 else 77)).all()
    else:
        assert (fill == bg).all()
    for seg in (grid(img.shape, 3, 4), from_labels(np.random.default_rng(3).integers(0, 5, img.shape[:2]))):
        X = np.random.default_rng(4).integers(0, 2, (6, seg.n)).astype(np.uint8)
        out = masked_images(img, fill, seg.labels, X)
        for row, mimg in zip(X, out):
            kept = row[seg.labels].astype(bool)
            assert (mimg[kept] == img[kept]).all()  # unmasked segments unchanged
            assert (mimg[~kept] == fill[~kept]).all()  # masked ones equal the fill
        assert (masked_images(img, fill, seg.labels, np.ones((1, seg.n)))[0] == img).all()
        assert (masked_images(img, fill, seg.labels, np.zeros((1, seg.n)))[0] == fill).all()


def test_default_blur_radius_is_stated():
    img = _image(40, 64)
    assert make_fill(img, "blur")[1] == {"masking": "blur", "blur_radius": 8.0}


def test_value_function_scores_the_masked_images():
    img = _image(12, 12, 3)
    seen = []

    def model(ims):
        seen.append(ims.copy())
        return ims.reshape(len(ims), -1).astype(float).sum(1)

    vf = ImageValueFunction(img, model, grid=(2, 2), masking="color", color=0, batch_size=3)
    X = _all_masks(4)
    y = vf(X)
    imgs = np.concatenate(seen)
    assert imgs.shape == (16, 12, 12, 3) and max(len(b) for b in seen) == 3
    ref = [int(masked_images(img, np.zeros_like(img), vf.segmentation.labels, x[None])[0].astype(int).sum()) for x in X]
    assert y.tolist() == ref
    pickle.loads(pickle.dumps(ImageValueFunction(img, DigitsClassifier(), grid=(2, 2))))  # shippable


# ---------------------------------------------------------------------------- planted game, brute force


def _planted_model(a_box, b_box, c_box):
    """Score 3 when both bright objects A and B are visible, +1 when C is, small noise-free texture term."""

    def model(ims):
        def bright(box):
            y0, y1, x0, x1 = box
            return ims[:, y0:y1, x0:x1].reshape(len(ims), -1).mean(1) > 150

        tex = ims[:, :, :, 1].reshape(len(ims), -1).mean(1) / 255.0
        return 3.0 * (bright(a_box) & bright(b_box)) + 1.0 * bright(c_box) + 0.1 * tex

    return model


def test_planted_two_region_interaction_is_recovered():
    img = np.full((24, 32, 3), 40, np.uint8)
    img[1:5, 1:7] = 230   # object A in cell r0c0 (cells are 8×8 on a 3×4 grid)
    img[17:23, 25:31] = 230  # object B in cell r2c3
    img[9:15, 9:15] = 230  # object C in cell r1c1
    model = _planted_model((1, 5, 1, 7), (17, 23, 25, 31), (9, 15, 9, 15))
    e = explain_image(img, model=model, grid=(3, 4), masking="blur", blur_radius=6.0, method="proxyspex",
                      budget=600, index="Moebius", n_test=200, model_id="planted")
    a, b, c = e.features.index("r0c0"), e.features.index("r2c3"), e.features.index("r1c1")
    top = e.top(2)
    assert {it.features for it in top} == {(a, b), (c,)}
    assert abs(e.values[(a, b)] - 3.0) < 0.1
    assert e.metadata["faithfulness_r2"] > 0.99


def test_exact_spectrum_matches_brute_force_at_12_cells():
    img = _image(24, 32, 3, seed=5)
    img[1:5, 1:7] = 230
    img[17:23, 25:31] = 230
    model = _planted_model((1, 5, 1, 7), (17, 23, 25, 31), (9, 15, 9, 15))
    e = explain_image(img, model=model, grid=(3, 4), masking="mean", method="exact", index="Moebius", n_test=0,
                      model_id="planted")
    n = 12
    # Brute force: score every one of the 2^12 masked images directly, then the Möbius transform
    # a(S) = Σ_{T ⊆ S} (-1)^{|S|-|T|} f(T) by the in-place subset-difference recursion.
    fill = np.broadcast_to(np.rint(img.reshape(-1, 3).mean(0)).astype(np.uint8), img.shape)
    labels = grid(img.shape, 3, 4).labels
    X = _all_masks(n)
    f = np.concatenate([model(masked_images(img, fill, labels, X[s : s + 512])) for s in range(0, 2**n, 512)])
    a = f.astype(float).copy()
    for i in range(n):
        bit = 1 << i
        idx = np.arange(2**n)
        has = (idx & bit) != 0
        a[has] -= a[idx[has] ^ bit]
    mob = e.spectrum.interactions("Moebius")
    for s in range(2**n):
        key = tuple(i for i in range(n) if s >> i & 1)
        assert abs(mob.get(key, 0.0) - a[s]) < 1e-8, key
    assert e.metadata["n_model_calls"] == 2**n


def test_same_seed_same_result_and_cache_resumes(tmp_path):
    img, _ = digit_image(7)
    kw = {"grid": (3, 3), "method": "proxyspex", "budget": 200, "n_test": 30, "seed": 3}
    cache = tmp_path / "q.sqlite"
    e1 = explain_image(img, cache=cache, **kw)
    e2 = explain_image(img, cache=cache, **kw)
    assert e2.metadata["n_model_calls"] == 0 and e2.metadata["n_from_cache"] > 0
    assert e1.spectrum.to_dict() == e2.spectrum.to_dict()
    # Another masking, segmentation or image is another identity: nothing is reused.
    assert explain_image(img, cache=cache, masking="mean", **kw).metadata["n_from_cache"] == 0
    assert explain_image(img, cache=cache, **{**kw, "grid": (3, 2)}).metadata["n_from_cache"] == 0
    other = img.copy()
    other[0, 0] ^= 1
    assert explain_image(other, cache=cache, **kw).metadata["n_from_cache"] == 0


def test_interrupted_run_resumes_from_the_cache(tmp_path):
    img = _image(16, 16, 3, seed=9)
    calls = {"n": 0}

    def flaky(ims):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("killed")
        return ims.reshape(len(ims), -1).mean(1).astype(float)

    kw = {"grid": (2, 3), "method": "exact", "n_test": 0, "batch_size": 8, "model_id": "mean-v1",
          "cache": tmp_path / "q.sqlite"}
    with pytest.raises(RuntimeError):
        explain_image(img, model=flaky, **kw)
    e = explain_image(img, model=lambda ims: ims.reshape(len(ims), -1).mean(1).astype(float), **kw)
    # The three calls that returned (the unmasked image, then two batches of 8) are not redone.
    assert e.metadata["n_from_cache"] == 1 + 2 * 8
    assert e.metadata["n_model_calls"] == 64 - 17


# ---------------------------------------------------------------------------- the offline default


def test_digits_model_and_default_explanation():
    m = DigitsClassifier()
    hits = sum(int(np.argmax(m.logits(img[None])[0])) == y for img, y in (digit_image(i) for i in range(100)))
    assert hits >= 90  # held-out accuracy of the default model
    img, label = digit_image(0)
    e = explain_image(img, method="exact", n_test=50)
    assert e.n == 16 and e.features[0] == "r0c0"
    assert e.metadata["masking"] == {"masking": "color", "color": [0]}
    assert e.metadata["target"] == str(label) and e.metadata["faithfulness_r2"] > 0.999
    # The unmasked output is the model's logit of the predicted class on the digit.
    assert abs(e.full_output - m.logits(img[None])[0, label]) < 1e-9


# ---------------------------------------------------------------------------- Hugging Face models


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run ~50× faster on one thread than on two threads of a shared, busy machine."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_vit(one_torch_thread):
    pytest.importorskip("transformers")
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_labels=3, id2label={0: "cat", 1: "dog", 2: "car"},
                    label2id={"cat": 0, "dog": 1, "car": 2})
    return ViTForImageClassification(cfg).eval(), ViTImageProcessorPil(size={"height": 32, "width": 32})


@pytest.mark.slow
def test_tiny_vit_batched_equals_one_at_a_time_and_direct(tiny_vit, tmp_path):
    import torch

    from interspect.applications.images import HFImageClassifier, load_image_model

    vit, proc = tiny_vit
    img = _image(40, 48, 3, seed=6)
    vf = ImageValueFunction(img, HFImageClassifier(vit, proc, batch_size=5), grid=(2, 3), blur_radius=4.0)
    X = np.random.default_rng(0).integers(0, 2, (13, 6)).astype(np.uint8)
    batched = vf(X)
    single = np.array([vf(x[None])[0] for x in X])
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)
    # Independent reference: the processor and the model called directly on each masked image.
    from PIL import Image

    target = vf.model.target
    with torch.no_grad():
        logits = np.stack([vit(**proc(images=[Image.fromarray(im)], return_tensors="pt")).logits[0].numpy()
                           for im in vf.masked_images(X)]).astype(float)
    np.testing.assert_allclose(batched, logits[:, target], rtol=0, atol=1e-5)
    # Saved with its processor, it loads from the path and scores the same; the probability score
    # is the softmax of the direct logits.
    vit.save_pretrained(tmp_path / "vit")
    proc.save_pretrained(tmp_path / "vit")
    loaded = load_image_model(str(tmp_path / "vit"), target=target, score="probability")
    soft = np.exp(logits[:, target] - logits.max(1)) / np.exp(logits - logits.max(1, keepdims=True)).sum(1)
    np.testing.assert_allclose(ImageValueFunction(img, loaded, grid=(2, 3), blur_radius=4.0)(X), soft, atol=1e-6)
    e = explain_image(img, model=str(tmp_path / "vit"), grid=(2, 3), blur_radius=4.0, method="exact", n_test=0)
    assert e.metadata["target"] == vit.config.id2label[target] == loaded.class_names[target]
    assert e.metadata["output"] == f"logit of class {vit.config.id2label[target]!r}"
    assert abs(e.full_output - vf(np.ones((1, 6)))[0]) < 1e-5


@pytest.mark.slow
def test_model_without_image_processor_is_one_line(tiny_vit, tmp_path):
    from interspect.applications.images import HFImageClassifier

    vit, _ = tiny_vit
    img = _image(32, 32)
    with pytest.raises(ValueError, match="has no image processor") as exc:
        explain_image(img, model=vit)
    _one_line(exc)
    with pytest.raises(ValueError, match="has no image processor"):
        HFImageClassifier(vit, None)
    vit.save_pretrained(tmp_path / "bare")  # config and weights, no preprocessor_config.json
    with pytest.raises(ValueError, match="has no image processor") as exc:
        explain_image(img, model=str(tmp_path / "bare"))
    _one_line(exc)
    assert main(["explain-image", str(tmp_path / "img.png"), "--no-cache"]) == 2  # missing file


def _tiny_llava():
    """A LLaVA (CLIP vision tower + Llama) with a word-level tokenizer, all built from configs."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "what", "is", "it", "?",
             "a", "big", "cat", "dog", "yes", "no"]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    ip = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                          image_token="<image>", num_additional_image_tokens=1)
    torch.manual_seed(0)
    vc = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                          image_size=16, patch_size=8, projection_dim=16)
    tc = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64, pad_token_id=1,
                     bos_token_id=2, eos_token_id=3)
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_index=4,
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    return LlavaForConditionalGeneration(cfg).eval(), proc


@pytest.mark.slow
def test_tiny_vision_language_model_batched_equals_one_at_a_time_and_direct(one_torch_thread, tmp_path):
    pytest.importorskip("transformers")
    import torch
    from PIL import Image

    from interspect.applications.images import HFVisionLanguageModel, load_image_model

    model, proc = _tiny_llava()
    img = _image(24, 24, 3, seed=8)
    prompt = "USER: <image> {question} ASSISTANT:"
    X = np.random.default_rng(1).integers(0, 2, (7, 4)).astype(np.uint8)
    outs = {}
    for kw in ({"answer": " a big cat"}, {"labels": (" yes", " no")}, {}):
        vlm = HFVisionLanguageModel(model, proc, question="what is it ?", prompt=prompt, batch_size=3, **kw)
        vf = ImageValueFunction(img, vlm, grid=(2, 2), blur_radius=3.0)
        batched = vf(X)
        np.testing.assert_allclose(batched, [vf(x[None])[0] for x in X], rtol=0, atol=1e-5)
        outs[vlm.score if kw else "generated"] = (vf, batched)
    # Independent reference for the answer's teacher-forced log-probability: one forward pass per
    # image on the full text "prompt + answer", summing log p of the answer's 3 tokens.
    vf, batched = outs["logprob"]
    text = prompt.replace("{question}", "what is it ?")
    ref = []
    for im in vf.masked_images(X):
        enc = proc(images=[Image.fromarray(im)], text=[text + " a big cat"], return_tensors="pt")
        with torch.no_grad():
            lp = torch.log_softmax(model(**enc).logits[0].float(), -1)
        ids = enc["input_ids"][0]
        ref.append(sum(float(lp[p - 1, ids[p]]) for p in range(len(ids) - 3, len(ids))))
    np.testing.assert_allclose(batched, ref, rtol=0, atol=1e-5)
    # The margin is the difference of the two one-token answers' log-probabilities.
    vf_m, margin = outs["margin"]
    yes, no = (proc.tokenizer.convert_tokens_to_ids(t) for t in ("yes", "no"))
    ref_m = []
    for im in vf_m.masked_images(X):
        enc = proc(images=[Image.fromarray(im)], text=[text], return_tensors="pt")
        with torch.no_grad():
            lp = torch.log_softmax(model(**enc).logits[0, -1].float(), -1)
        ref_m.append(float(lp[yes] - lp[no]))
    np.testing.assert_allclose(margin, ref_m, rtol=0, atol=1e-5)
    # The default answer is the model's own greedy answer on the unmasked image.
    assert outs["generated"][0].model.answer
    # From a saved directory: same scores; through explain_image: the question is kept in the report.
    model.save_pretrained(tmp_path / "vlm")
    proc.save_pretrained(tmp_path / "vlm")
    loaded = load_image_model(str(tmp_path / "vlm"), question="what is it ?", prompt=prompt, labels=(" yes", " no"))
    np.testing.assert_allclose(ImageValueFunction(img, loaded, grid=(2, 2), blur_radius=3.0)(X), margin, atol=1e-5)
    e = explain_image(img, model=model, processor=proc, question="what is it ?", prompt=prompt,
                      labels=(" yes", " no"), grid=(2, 2), blur_radius=3.0, method="exact", n_test=0)
    assert e.metadata["question"] == "what is it ?" and "logp(' yes')" in e.metadata["output"]
    with pytest.raises(ValueError, match="needs question=") as exc:
        load_image_model(str(tmp_path / "vlm"))
    _one_line(exc)


# ---------------------------------------------------------------------------- bad input


def test_bad_input_is_one_line_each(tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not an image")
    with pytest.raises(ValueError, match="is not an image file") as exc:
        explain_image(not_image)
    _one_line(exc)
    with pytest.raises(ValueError, match=r"grid=\(9, 4\) is larger than the image \(8 rows") as exc:
        explain_image(digit_image(0)[0], grid=(9, 4))
    _one_line(exc)
    with pytest.raises(ValueError, match="segments has shape"):
        explain_image(digit_image(0)[0], segments=np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="masking='nope' is not supported"):
        explain_image(digit_image(0)[0], masking="nope")
    with pytest.raises(ValueError, match="blur_radius must be a positive number"):
        explain_image(digit_image(0)[0], masking="blur", blur_radius=-1.0)
    with pytest.raises(ValueError, match="question= is for vision-language models"):
        explain_image(digit_image(0)[0], question="which digit?")
    with pytest.raises(TypeError, match="uint8"):
        load_image(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="must return one per image"):
        ImageValueFunction(_image(8, 8), lambda ims: np.zeros(1), grid=(2, 2))(np.ones((3, 4)))


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    not_image = tmp_path / "x.jpg"
    not_image.write_bytes(b"\x00\x01garbage")
    assert main(["explain-image", str(not_image), "--no-cache", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("interspect: error:") and "is not an image file" in err and "\n" not in err
    assert main(["explain-image", "--grid", "16x2", "--no-cache", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is larger than the image" in err and "\n" not in err
    assert main(["explain-image", "--labels", "yes,", "--no-cache", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--labels needs exactly two non-empty comma-separated answers" in err and "\n" not in err
    with pytest.raises(SystemExit) as stop:
        main(["explain-image", "--grid", "4by4"])
    assert stop.value.code == 2


# ---------------------------------------------------------------------------- report and CLI


def test_cli_default_runs_offline_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["explain-image", "--no-cache", "--no-progress", "--n-test", "20", "--budget", "300", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "held-out digit #0" in printed and "16 grid segments" in printed
    for name in ("explanation.json", "spectrum.json", "report.html", "report.png"):
        assert (out / name).stat().st_size > 0
    page = (out / "report.html").read_text()
    assert sum(f'<g class="seg" data-i="{i}">' in page for i in range(16)) == 16
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    e = Explanation.from_json(out / "explanation.json")
    assert e.metadata["application"] == "images" and e.features[:2] == ["r0c0", "r0c1"]
    assert render_png(e) == (out / "report.png").read_bytes()  # the PNG redraws from the JSON


def test_view_outlines_every_segment_exactly(tmp_path):
    lab = np.repeat(np.repeat(np.array([[0, 0, 1], [2, 1, 1]]), 3, 0), 4, 1)  # 6×12, 3 segments
    img = _image(6, 12)
    e = explain_image(img, model=lambda ims: ims.reshape(len(ims), -1).mean(1), segments=lab,
                      method="exact", n_test=0, masking="mean")
    view = e.metadata["_image_view"]
    assert (display_labels(view) == lab).all()
    html = image_view(e)
    assert html.count('class="seg"') == 3
    # The area paths' rectangles cover exactly each segment's pixels.
    import re

    for i in range(3):
        area = re.search(rf'data-i="{i}">.*?class="area" d="([^"]*)"', html).group(1)
        cover = np.zeros(lab.shape, int)
        for x, y, w, h in re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)", area):
            cover[int(y) : int(y) + int(h), int(x) : int(x) + int(w)] += 1
        assert (cover == (lab == i)).all()
    json.dumps(e.to_dict())  # the view's data is JSON-able


def test_report_hover_highlights_segments_together_in_chromium(tmp_path):
    executable = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if executable is None:
        pytest.skip("no Chromium found: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    img = np.full((24, 32, 3), 40, np.uint8)
    img[1:5, 1:7] = 230
    img[17:23, 25:31] = 230
    img[9:15, 9:15] = 230
    model = _planted_model((1, 5, 1, 7), (17, 23, 25, 31), (9, 15, 9, 15))
    e = explain_image(img, model=model, grid=(3, 4), masking="mean", method="exact", index="Moebius", n_test=0)
    page_path = tmp_path / "report.html"
    e.to_html(page_path)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 1300})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_path.as_uri())
        first = page.eval_on_selector_all(".seg.hl", "els => els.map(e => +e.dataset.i)")
        page.hover("tr.inter >> nth=1")
        second = page.eval_on_selector_all(".seg.hl", "els => els.map(e => +e.dataset.i)")
        browser.close()
    assert errors == []
    top = e.top(2)
    assert sorted(first) == list(top[0].features) and len(first) == 2  # the planted pair, together
    assert sorted(second) == list(top[1].features)


def test_cli_explains_an_image_file_as_the_8x8_digit_it_shows(tmp_path, capsys):
    from PIL import Image

    img, _ = digit_image(5)
    big = np.repeat(np.repeat(img[:, :, 0], 4, 0), 4, 1)  # 32×32: every digit pixel a 4×4 block
    Image.fromarray(big).save(tmp_path / "digit.png")
    out = tmp_path / "o"
    argv = ["explain-image", str(tmp_path / "digit.png"), "--no-cache", "--no-progress", "--method", "exact",
            "--n-test", "0", "--grid", "2x4", "--out", str(out)]
    assert main(argv) == 0
    from_file = Explanation.from_json(out / "explanation.json")
    # Box-resizing the blocks back gives the digit itself, and the cells are whole digit pixels,
    # so the spectrum is the 8×8 digit's.
    direct = explain_image(img, grid=(2, 4), method="exact", n_test=0)
    assert from_file.metadata["segments"]["width"] == 32
    a, b = from_file.spectrum.fourier, direct.spectrum.fourier
    assert set(a) == set(b) and all(abs(a[k] - b[k]) < 1e-9 for k in a)
    # A caller's label map from a .npy file: two halves.
    halves = np.zeros((32, 32), np.int64)
    halves[:, 16:] = 7
    np.save(tmp_path / "halves.npy", halves)
    assert main([*argv[:-4], "--segments", str(tmp_path / "halves.npy"), "--out", str(out)]) == 0
    assert Explanation.from_json(out / "explanation.json").features == ["seg0", "seg7"]
    capsys.readouterr()
