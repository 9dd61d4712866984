"""`dvc plots show` without internet: an HTML template that carries Vega, Vega-Lite and vega-embed inline.

DVC's default page loads those scripts from a CDN, so plots are blank offline. In: nothing (the scripts
come from the installed vl-convert-python package, maintained by the Vega team). Out: the template text
for `dvc plots show --html-template` (it has DVC's `{plot_divs}` placeholder and no `{scripts}` one, so
DVC adds no CDN tags).
"""

from __future__ import annotations

import vl_convert

TEMPLATE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>FCR pipeline: DVC plots</title>
<script>{bundle}</script>
<style>body {{ font-family: sans-serif; }} table {{ border-spacing: 15px; }}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def offline_plots_template() -> str:
    """The page DVC fills with its plots, with the Vega libraries inline (about 1 MB)."""
    # `</script` inside the bundle would end the tag early; escaping the slash keeps the JS identical.
    # DVC writes Vega-Lite 5 specs: the newest 5.x the package carries draws them as DVC means them.
    v5 = max((v for v in vl_convert.get_vegalite_versions() if v.startswith("5.")), key=lambda v: int(v[2:]))
    bundle = vl_convert.javascript_bundle(vl_version=f"v{v5}").replace("</script", "<\\/script")
    return TEMPLATE.format(bundle=bundle)
