"""What the notebook tests share: the outputs of an executed notebook."""


def outputs(nb, kind):
    """Every output of the notebook holding mime type ``kind`` (or stream text for "stream")."""
    found = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if kind == "stream" and o.output_type == "stream":
                found.append(o.text)
            elif kind in o.get("data", {}):
                found.append(o.data[kind])
    return found
