"""Reading QR codes back in tests, with the decoder the staff pages use: the vendored jsQR
(api/studio/static/vendor/jsQR.js) run by Node.js on the image's pixels. A PNG's pixels are read here
(greyscale or palette, up to 8 bits, not interlaced: what segno writes), so no imaging library is needed."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import zlib

import pytest

from tests.support.env import IN_CI, ROOT

JSQR = ROOT / "api" / "studio" / "static" / "vendor" / "jsQR.js"

_DECODE = """
const jsQR = require(process.argv[1]);
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const image = JSON.parse(input);
  const pixels = new Uint8ClampedArray(Buffer.from(image.rgba, "base64"));
  const found = jsQR(pixels, image.width, image.height);
  process.stdout.write(JSON.stringify(found ? found.data : null));
});
"""


def png_rgba(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGBA bytes) of a greyscale or palette PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, palette = 8, b"", b""
    width = height = depth = colour = 0
    while position < len(png):
        (length,) = struct.unpack(">I", png[position:position + 4])
        kind, data = png[position + 4:position + 8], png[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
            assert colour in (0, 3) and depth <= 8 and interlace == 0, "only greyscale or palette PNGs"
        elif kind == b"PLTE":
            palette = data
        elif kind == b"IDAT":
            chunks += data
    raw = zlib.decompress(chunks)
    stride = (width * depth + 7) // 8
    previous, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(kind, line, previous, max(1, depth // 8))
        rows.append(line)
        previous = line
    out = bytearray()
    for line in rows:
        for x in range(width):
            bit = x * depth
            value = (line[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
            if colour == 3:
                out += palette[value * 3:value * 3 + 3] + b"\xff"
            else:
                grey = value * 255 // ((1 << depth) - 1)
                out += bytes((grey, grey, grey, 255))
    return width, height, bytes(out)


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            guess = left + up - corner
            near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
            line[i] = (line[i] + near[2]) & 0xFF


def decode_qr(png: bytes) -> str | None:
    """The text of the QR code in `png` as jsQR reads it, or None when it finds none."""
    node = shutil.which("node")
    if node is None:
        reason = "Node.js is not installed (it runs the vendored jsQR to read QR codes back)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    width, height, rgba = png_rgba(png)
    body = json.dumps({"width": width, "height": height, "rgba": base64.b64encode(rgba).decode()})
    result = subprocess.run([str(node), "-e", _DECODE, str(JSQR)], input=body, capture_output=True, text=True,
                            timeout=60, check=True)
    found = json.loads(result.stdout)
    return str(found) if found is not None else None
