#!/usr/bin/env python3
"""The dashboard's padlock, the mTLS mark, as a TrueType font of one glyph at U+1F512 (🔒).

The graph's edge labels are text drawn on a canvas, where an icon can only be a character, and
the emoji's own glyph comes from a colour emoji font many hosts lack (Debian's Chromium without
fonts-noto-color-emoji draws an empty box). This font, listed first in the page's font stacks
with `unicode-range: U+1F512`, draws that one character everywhere, in the labels as in the
panel and the legend, and the labels keep their text.

    dashboard/lockfont.py > font.css    # prints the @font-face rule app.css holds

Written by hand (struct) so that it needs nothing beyond Python: the tables a browser's font
sanitizer requires (head, hhea, maxp, OS/2, hmtx, cmap, loca, glyf, name, post), one glyph besides
.notdef, outer contours clockwise and the keyhole counter-clockwise as TrueType fills them.
"""
import base64
import struct

FAMILY = "ambit-icons"
EM, ASC, DESC, ADV = 1000, 800, 200, 760
LOCK = 0x1F512

# Outlines in font units, y up; (x, y, on-curve).
BODY = [(90, -40, 1), (90, 400, 1), (670, 400, 1), (670, -40, 1)]
SHACKLE = [(180, 400, 1), (180, 560, 1), (180, 760, 0), (380, 760, 1), (580, 760, 0), (580, 560, 1),
           (580, 400, 1), (490, 400, 1), (490, 560, 1), (490, 670, 0), (380, 670, 1), (270, 670, 0),
           (270, 560, 1), (270, 400, 1)]
KEYHOLE = [(340, 80, 1), (420, 80, 1), (420, 240, 1), (340, 240, 1)]
CONTOURS = [BODY, SHACKLE, KEYHOLE]


def glyph():
    pts = [p for c in CONTOURS for p in c]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    out = struct.pack(">hhhhh", len(CONTOURS), min(xs), min(ys), max(xs), max(ys))
    end = -1
    for c in CONTOURS:
        end += len(c)
        out += struct.pack(">H", end)
    out += struct.pack(">H", 0)  # no instructions
    out += bytes(p[2] for p in pts)  # flags: on-curve or not, coordinates as int16 deltas
    x = y = 0
    for p in pts:
        out += struct.pack(">h", p[0] - x)
        x = p[0]
    for p in pts:
        out += struct.pack(">h", p[1] - y)
        y = p[1]
    if len(out) % 2:
        out += b"\0"
    return out, (min(xs), min(ys), max(xs), max(ys)), len(pts)


def name_table():
    recs = {1: FAMILY, 2: "Regular", 3: FAMILY, 4: FAMILY, 5: "Version 1.0", 6: FAMILY}
    data, rows = b"", b""
    for nid, text in recs.items():
        s = text.encode("utf-16-be")
        rows += struct.pack(">HHHHHH", 3, 1, 0x409, nid, len(s), len(data))
        data += s
    return struct.pack(">HHH", 0, len(recs), 6 + 12 * len(recs)) + rows + data


def cmap_table():
    # (3,1) format 4 with its closing segment alone, (3,10) format 12 with the padlock.
    f4 = struct.pack(">HHHHHHH", 4, 24, 0, 2, 2, 0, 0) + struct.pack(">HHHhH", 0xFFFF, 0, 0xFFFF, 1, 0)
    f12 = struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", LOCK, LOCK, 1)
    head = struct.pack(">HH", 0, 2) + struct.pack(">HHI", 3, 1, 20) + struct.pack(">HHI", 3, 10, 20 + len(f4))
    return head + f4 + f12


def checksum(b):
    b += b"\0" * (-len(b) % 4)
    return sum(struct.unpack(">%dI" % (len(b) // 4), b)) & 0xFFFFFFFF


def font():
    g, (x0, y0, x1, y1), npts = glyph()
    tables = {
        "head": struct.pack(">IIIIHHqqhhhhHHhhh", 0x10000, 0x10000, 0, 0x5F0F3CF5, 0x000B, EM, 0, 0,
                            x0, y0, x1, y1, 0, 8, 2, 0, 0),
        "hhea": struct.pack(">IhhhHhhhhhhhhhhhH", 0x10000, ASC, -DESC, 0, ADV, x0, ADV - x1, x1, 1, 0,
                            0, 0, 0, 0, 0, 0, 2),
        "maxp": struct.pack(">IHHHHHHHHHHHHHH", 0x10000, 2, npts, len(CONTOURS), 0, 0, 2, 0, 0, 0, 0, 0,
                            0, 0, 0),
        "OS/2": struct.pack(">HhHHHhhhhhhhhhhh10sIIII4sHHHhhhHHIIhhHHH", 4, ADV, 400, 5, 0,
                            650, 700, 0, 140, 650, 700, 0, 480, 50, 250, 0, b"\0" * 10,
                            0, 0, 0, 0, b"AMBT", 0x40, 0xFFFF, 0xFFFF, ASC, -DESC, 0, ASC, DESC,
                            1, 0, 500, 700, 0, 32, 1),
        "hmtx": struct.pack(">HhHh", ADV, 0, ADV, x0),
        "cmap": cmap_table(),
        "loca": struct.pack(">HHH", 0, 0, len(g) // 2),
        "glyf": g,
        "name": name_table(),
        "post": struct.pack(">IIhhIIIII", 0x30000, 0, -100, 50, 0, 0, 0, 0, 0),
    }
    tags = sorted(tables)
    n = len(tags)
    es = n.bit_length() - 1
    out = struct.pack(">IHHHH", 0x10000, n, 16 << es, es, 16 * n - (16 << es))
    off = 12 + 16 * n
    body = b""
    for t in tags:
        b = tables[t]
        out += struct.pack(">4sIII", t.encode().ljust(4), checksum(b), off + len(body), len(b))
        body += b + b"\0" * (-len(b) % 4)
    whole = bytearray(out + body)
    head_off = off + sum(len(tables[t]) + (-len(tables[t]) % 4) for t in tags[:tags.index("head")])
    struct.pack_into(">I", whole, head_off + 8, (0xB1B0AFBA - checksum(bytes(whole))) & 0xFFFFFFFF)
    return bytes(whole)


if __name__ == "__main__":
    print("@font-face {\n\tfont-family: \"%s\";\n\tsrc: url(data:font/ttf;base64,%s) format(\"truetype\");\n"
          "\tunicode-range: U+%X;\n}" % (FAMILY, base64.b64encode(font()).decode(), LOCK))
