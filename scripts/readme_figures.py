"""Compose docs/images/*.jpg from pictures nstbatch made (run `make demo` and the commands below first).

    nstbatch texture --style examples/styles/starry_night_vangogh.jpg -o out/figs/texture.png --size 192 --iterations 150
    nstbatch reconstruct --content examples/photos/chelsea_cat.jpg --layer relu2_1 -o out/figs/rec_relu2_1.png --size 192 --iterations 150
    nstbatch reconstruct --content examples/photos/chelsea_cat.jpg --layer relu4_2 -o out/figs/rec_relu4_2.png --size 192 --iterations 150
    nstbatch run -i examples/photos/chelsea_cat.jpg -s examples/styles/composition_vii_kandinsky.jpg -o out/figs/kandinsky
    nstbatch run -i examples/photos/chelsea_cat.jpg -s examples/styles/starry_night_vangogh.jpg --preserve-colors -o out/figs/keep
"""

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
HEIGHT, GAP = 200, 8


def row(paths) -> Image.Image:
    tiles = []
    for path in paths:
        img = Image.open(ROOT / path).convert("RGB")
        tiles.append(img.resize((round(img.width * HEIGHT / img.height), HEIGHT), Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + GAP * (len(tiles) - 1), HEIGHT), "white")
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + GAP
    return canvas


def save(image: Image.Image, name: str) -> None:
    out = ROOT / "docs" / "images" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, quality=88)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    save(row(["examples/photos/chelsea_cat.jpg", "examples/photos/coffee.jpg", "examples/styles/starry_night_vangogh.jpg",
              "out/demo/chelsea_cat.png", "out/demo/coffee.png"]), "demo.jpg")
    save(row(["out/figs/keep/chelsea_cat.png", "examples/styles/composition_vii_kandinsky.jpg",
              "out/figs/kandinsky/chelsea_cat.png", "out/figs/texture.png", "out/figs/rec_relu2_1.png",
              "out/figs/rec_relu4_2.png"]), "more.jpg")
