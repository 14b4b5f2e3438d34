"""The image builder decides what to rebuild from recipe hashes: these pin that logic."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("images_script", ROOT / "scripts" / "images.py")
images_script = importlib.util.module_from_spec(spec)
sys.modules["images_script"] = images_script  # dataclasses look their module up there
spec.loader.exec_module(images_script)


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    for name in ("base", "mid", "top"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(f"FROM scratch # {name}\n")
    monkeypatch.setattr(images_script, "IMAGES_DIR", tmp_path)
    manifest = tmp_path / "images.yml"
    manifest.write_text(
        "images:\n"
        "  - {name: t/base:1, dir: base}\n"
        "  - {name: t/mid:1, dir: mid, parent: t/base:1, push: false}\n"
        "  - {name: t/top:1, dir: top, parent: t/mid:1, args: {RUNTIME_IMAGE: t/base:1}}\n"
    )
    return tmp_path, images_script.load_manifest(manifest)


def test_a_changed_file_changes_its_image_and_every_image_built_on_it(recipes):
    folder, images = recipes
    before = {name: images_script.recipe_hash(images, name) for name in images}
    (folder / "mid" / "Dockerfile").write_text("FROM scratch # changed\n")
    after = {name: images_script.recipe_hash(images, name) for name in images}
    assert after["t/base:1"] == before["t/base:1"]
    assert after["t/mid:1"] != before["t/mid:1"]
    assert after["t/top:1"] != before["t/top:1"]


def test_an_unchanged_recipe_keeps_its_hash(recipes):
    _folder, images = recipes
    assert images_script.recipe_hash(images, "t/top:1") == images_script.recipe_hash(
        images, "t/top:1"
    )


def test_build_order_puts_dependencies_first_once(recipes):
    _folder, images = recipes
    assert images_script.build_order(images, ["t/top:1", "t/base:1"]) == [
        "t/base:1",
        "t/mid:1",
        "t/top:1",
    ]


def test_an_image_argument_naming_another_image_is_a_dependency(recipes):
    _folder, images = recipes
    assert images["t/top:1"].dependencies == ["t/mid:1", "t/base:1"]
    assert images["t/mid:1"].push is False


def test_unknown_image_and_misordered_manifest_are_refused(recipes, tmp_path):
    _folder, images = recipes
    with pytest.raises(SystemExit, match="unknown image"):
        images_script.build_order(images, ["t/nope:1"])
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "images:\n  - {name: t/a:1, dir: base, parent: t/b:1}\n  - {name: t/b:1, dir: mid}\n"
    )
    with pytest.raises(SystemExit, match="listed after it or missing"):
        images_script.load_manifest(bad)


def test_the_real_manifest_loads_and_every_recipe_folder_exists():
    images = images_script.load_manifest()
    for image in images.values():
        assert (images_script.IMAGES_DIR / image.dir).is_dir(), image.dir
        assert image.name.startswith("cariflex-test/"), "stand-ins must say so in their name"
