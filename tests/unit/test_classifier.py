"""Tests for shared.vision.training.classifier: real photos and real EfficientNet-Lite0 weights.

Fits are small (16-20 images, two views each) so the module runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.vision.images import load_rgb
from shared.vision.preprocess import INPUT_SIZE, preprocess
from shared.vision.training.classifier import Classifier, ClassifierConfig
from shared.vision.training.dataset import TrainImage

SAMPLES = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples" / "ImageClassification" / "Images"
HEMLOCK = sorted((SAMPLES / "Hemlock").glob("*.jpg"))
CHERRY = sorted((SAMPLES / "Japanese_Cherry").glob("*.jpg"))
THREADS = 2


def photo(path: Path) -> Callable[[], Image.Image]:
    """Load as the trainer does: validated bytes, EXIF-oriented RGB."""
    return lambda: load_rgb(path.read_bytes())


def sample_set(paths: list[Path], label: int) -> list[TrainImage]:
    return [TrainImage(path.stem, photo(path), (label,)) for path in paths]


def swatch(rgb: tuple[int, int, int], seed: int) -> Image.Image:
    """A 96x96 image of one colour with noise and a random bright square: cheap, varied."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (96, 96, 3)), 0, 255)
    left, top = rng.integers(0, 60, 2)
    pixels[top : top + 30, left : left + 30] = np.clip(pixels[top : top + 30, left : left + 30] + 60, 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


RED, BLUE, PURPLE, GREY = (200, 40, 40), (40, 40, 200), (170, 40, 170), (128, 128, 128)


@pytest.fixture(scope="module")
def trained() -> tuple[Classifier, list[TrainImage]]:
    """Fitted on 8 hemlock + 8 cherry photos; the last 2 of each held out."""
    train = sample_set(HEMLOCK[:8], 0) + sample_set(CHERRY[:8], 1)
    classifier = Classifier(ClassifierConfig(num_classes=2, threads=THREADS))
    classifier.fit(train)
    held_out = sample_set(HEMLOCK[8:], 0) + sample_set(CHERRY[8:], 1)
    return classifier, held_out


def test_held_out_photos_are_classified_correctly(trained: tuple[Classifier, list[TrainImage]]) -> None:
    classifier, held_out = trained
    probabilities = classifier.predict([image.load() for image in held_out])
    assert probabilities.shape == (4, 2)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert list(probabilities.argmax(axis=1)) == [image.labels[0] for image in held_out]


def test_refit_reuses_cached_backbone_work() -> None:
    seen: list[tuple[str, float]] = []
    classifier = Classifier(ClassifierConfig(num_classes=2, threads=THREADS))
    first = sample_set(HEMLOCK[:4], 0) + sample_set(CHERRY[:4], 1)
    classifier.fit(first, lambda stage, fraction: seen.append((stage, fraction)))
    views = classifier.backbone_forwards // len(first)
    assert views >= 1 and classifier.backbone_forwards == views * len(first)
    assert ("features", 1.0) in seen and ("head", 1.0) in seen

    classifier.fit(first[1:])  # a fold: a subset
    assert classifier.backbone_forwards == views * len(first)
    more = first + sample_set(HEMLOCK[4:5], 0)  # the final model: one image is new
    classifier.fit(more)
    assert classifier.backbone_forwards == views * (len(first) + 1)


def colour_set(multilabel: bool, each: int = 4) -> list[TrainImage]:
    groups: list[tuple[tuple[int, int, int], tuple[int, ...]]] = [(RED, (0,)), (BLUE, (1,))]
    if multilabel:
        groups += [(PURPLE, (0, 1)), (GREY, ())]
    return [
        TrainImage(f"{rgb}-{n}", (lambda rgb=rgb, n=n: swatch(rgb, n)), labels)
        for rgb, labels in groups
        for n in range(each)
    ]


def test_same_seed_gives_identical_probabilities() -> None:
    images = colour_set(multilabel=False)
    tests = [swatch(RED, 100), swatch(BLUE, 101), swatch(PURPLE, 102)]
    runs = []
    for _ in range(2):
        classifier = Classifier(ClassifierConfig(num_classes=2, seed=3, threads=THREADS))
        classifier.fit(images)
        runs.append(classifier.predict(tests))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert list(runs[0][:2].argmax(axis=1)) == [0, 1]


def test_multilabel_gives_independent_probabilities() -> None:
    classifier = Classifier(ClassifierConfig(num_classes=3, multilabel=True, threads=THREADS))
    classifier.fit(colour_set(multilabel=True))  # class 2 never appears: always a negative
    tests = [swatch(RED, 200), swatch(BLUE, 201), swatch(PURPLE, 202), swatch(GREY, 203)]
    probabilities = classifier.predict(tests)
    assert probabilities.shape == (4, 3)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)  # not a softmax
    assert (probabilities[:, 2] < 0.5).all()
    decided = probabilities[:, :2] > 0.5
    assert decided.tolist() == [[True, False], [False, True], [True, True], [False, False]]


def test_advanced_stops_within_its_budget() -> None:
    budget = 10.0
    stages: list[str] = []
    classifier = Classifier(ClassifierConfig(num_classes=2, advanced=True, budget_seconds=budget, threads=THREADS))
    started = time.perf_counter()
    classifier.fit(colour_set(multilabel=False, each=3), lambda stage, fraction: stages.append(stage))
    assert time.perf_counter() - started <= budget
    assert stages[-1] == "fine-tune"
    probabilities = classifier.predict([swatch(RED, 300), swatch(BLUE, 301)])
    assert list(probabilities.argmax(axis=1)) == [0, 1]


def test_onnx_export_matches_predict(trained: tuple[Classifier, list[TrainImage]], tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    classifier, held_out = trained
    path = tmp_path / "model.onnx"
    classifier.export_onnx(path, ["Hemlock", "Japanese Cherry"])

    metadata = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    assert metadata["Image.BitmapPixelFormat"] == "Rgb8"
    assert metadata["Image.NominalPixelRange"] == "NominalRange_0_255"
    assert json.loads(metadata["CustomVision.Labels"]) == ["Hemlock", "Japanese Cherry"]
    assert metadata["CustomVision.Task"] == "classification"
    assert metadata["CustomVision.Multilabel"] == "false"
    assert metadata["CustomVision.InputSize"] == str(INPUT_SIZE)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (data,) = session.get_inputs()
    assert data.name == "data" and data.shape[1:] == [3, INPUT_SIZE, INPUT_SIZE]
    assert not isinstance(data.shape[0], int)  # dynamic batch
    assert [output.name for output in session.get_outputs()] == ["model_output"]

    images = [image.load() for image in held_out]
    batch = np.stack([preprocess(image, INPUT_SIZE) for image in images])
    (onnx_probabilities,) = session.run(None, {"data": batch})
    np.testing.assert_allclose(onnx_probabilities, classifier.predict(images), atol=1e-4)


def test_export_refuses_a_wrong_number_of_labels(trained: tuple[Classifier, list[TrainImage]], tmp_path: Path) -> None:
    classifier, _ = trained
    with pytest.raises(ValueError, match="labels"):
        classifier.export_onnx(tmp_path / "model.onnx", ["only one"])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        Classifier(ClassifierConfig(num_classes=0))
    classifier = Classifier(ClassifierConfig(num_classes=2))
    with pytest.raises(RuntimeError):
        classifier.predict([swatch(RED, 0)])
    with pytest.raises(ValueError):
        classifier.fit([])
    with pytest.raises(ValueError, match="outside"):
        classifier.fit([TrainImage("x", lambda: swatch(RED, 0), (2,))])


def test_preprocess_needs_no_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from PIL import Image\n"
        "from shared.vision.preprocess import INPUT_SIZE, preprocess\n"
        "x = preprocess(Image.new('L', (40, 30), 200))\n"
        "assert x.shape == (3, INPUT_SIZE, INPUT_SIZE) and x.dtype.name == 'float32', x.shape\n"
        "assert float(x.min()) == float(x.max()) == 200.0\n"
        "assert 'torch' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n"
    )
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)
