#!/usr/bin/python3
"""The dashboard's padlock, the mTLS mark, as a TrueType font of one glyph at U+1F512 (🔒) and
U+1F510 (🔐, the mark Istio's Grafana dashboards put in their legends).

The graph's edge labels are text drawn on a canvas, where an icon can only be a character, and
the emoji's own glyph comes from a colour emoji font many hosts lack (Debian's Chromium without
fonts-noto-color-emoji draws an empty box). This font, listed first in the page's font stacks
with their `unicode-range`, draws those characters everywhere, in the labels as in the
panel and the legend, and the labels keep their text.

    dashboard/lockfont.py > font.css    # prints the @font-face rule app.css holds

Built with fontTools (Debian's python3-fonttools): outlines drawn with a pen, the tables a
browser's font sanitizer requires made by its FontBuilder.
"""
import base64
import io

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

FAMILY = "ambit-icons"
EM, ASC, DESC, ADV = 1000, 800, 200, 760
LOCKS = (0x1F510, 0x1F512)


def padlock():
    """The body, the shackle (an arch: quadratic curves through off-curve points) and the
    keyhole; outer contours clockwise, the keyhole counter-clockwise, as TrueType fills them."""
    pen = TTGlyphPen(None)
    pen.moveTo((90, -40))
    pen.lineTo((90, 400))
    pen.lineTo((670, 400))
    pen.lineTo((670, -40))
    pen.closePath()
    pen.moveTo((180, 400))
    pen.lineTo((180, 560))
    pen.qCurveTo((180, 760), (380, 760))
    pen.qCurveTo((580, 760), (580, 560))
    pen.lineTo((580, 400))
    pen.lineTo((490, 400))
    pen.lineTo((490, 560))
    pen.qCurveTo((490, 670), (380, 670))
    pen.qCurveTo((270, 670), (270, 560))
    pen.lineTo((270, 400))
    pen.closePath()
    pen.moveTo((340, 80))
    pen.lineTo((420, 80))
    pen.lineTo((420, 240))
    pen.lineTo((340, 240))
    pen.closePath()
    return pen.glyph()


def font():
    fb = FontBuilder(EM, isTTF=True)
    fb.setupGlyphOrder([".notdef", "padlock"])
    fb.setupCharacterMap({c: "padlock" for c in LOCKS})
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "padlock": padlock()})
    fb.setupHorizontalMetrics({".notdef": (ADV, 0), "padlock": (ADV, 90)})
    fb.setupHorizontalHeader(ascent=ASC, descent=-DESC)
    fb.setupNameTable({"familyName": FAMILY, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=ASC, sTypoDescender=-DESC, usWinAscent=ASC, usWinDescent=DESC)
    fb.setupPost()
    out = io.BytesIO()
    fb.save(out)
    return out.getvalue()


if __name__ == "__main__":
    print("@font-face {\n\tfont-family: \"%s\";\n\tsrc: url(data:font/ttf;base64,%s) format(\"truetype\");\n"
          "\tunicode-range: %s;\n}" % (FAMILY, base64.b64encode(font()).decode(),
                                         ", ".join("U+%X" % c for c in LOCKS)))
