"""The threshold explorer: which sub-network a choice of thresholds and perturbation strength draws from
a trained target network, what it costs (FLOPs, parameters) and how accurate it is on a validation batch.

``Explorer.measure`` does the work (Algorithm 1's sampler on the target's filter weights, then a
physically extracted sub-network, no retraining). Two front ends share it: ``widget()`` is an ipywidgets
interface for a live kernel, any threshold per layer group; ``static_html()`` precomputes every state of
a grid (each group's threshold from the threshold set x a few perturbation strengths) and returns a
self-contained HTML page fragment with plain JavaScript, so the rendered book stays interactive
without a kernel. The perturbation noise is drawn once per layer (seeded): sigma scales the same draw.
Both mark the FLOPs budget and give each accuracy with its standard error: it is one sample of validation
images, and a few hundred images leave about a point of noise. With a budget, a switch applies the search's
budget projection (``jst.core.sampler.fit_to_budget``: every threshold scaled by one factor, then the most
probable remaining filters added while they fit), so the page shows the raw draw and the candidate the
search would train.
"""
from __future__ import annotations

import itertools
import json
import uuid

import numpy as np
import torch
from torch import nn

from jst.core.filter_weights import filter_weights
from jst.core.sampler import fit_to_budget, keep_by_threshold, perturb
from jst.engine.rng import generator
from jst.nets.flops import FlopsModel, count_params
from jst.nets.prunable import tensor_index, widths
from jst.nets.subnetwork import extract, masked, masking_is_exact

SIGMAS = (0.0, 0.05, 0.2)


def group_layers(layers: list[str], max_groups: int = 4) -> dict[str, list[str]]:
    """Slider groups: one per layer when there are few, else one per stage (the name's first component,
    e.g. a CIFAR ResNet's layer1/2/3), else contiguous runs of layers."""
    if len(layers) <= max_groups:
        return {name: [name] for name in layers}
    stages: dict[str, list[str]] = {}
    for name in layers:
        stages.setdefault(name.split(".")[0], []).append(name)
    if 1 < len(stages) <= max_groups:
        return stages
    chunks = [list(c) for c in np.array_split(np.array(layers, dtype=object), max_groups)]
    return {f"{c[0]} .. {c[-1]}" if len(c) > 1 else c[0]: c for c in chunks}


class Explorer:
    def __init__(self, target: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], input_shape,
                 thresholds=(0.6, 0.65, 0.7, 0.75, 0.8), sigmas=SIGMAS, groups: dict[str, list[str]] | None = None,
                 seed: int = 0, min_keep: int = 1, budget: float | None = None):
        self.target = target.cpu().eval()
        self.x, self.y = batch[0].cpu(), batch[1].cpu()
        self.flops = FlopsModel(self.target, input_shape)
        self.dense = widths(self.target)
        self.dense_params = count_params(self.target)
        self.alphas = {k: v.detach().cpu() for k, v in filter_weights(self.target).items()}
        self.groups = groups or group_layers(list(self.alphas))
        self.thresholds, self.sigmas = tuple(thresholds), tuple(sigmas)
        self.seed, self.min_keep, self.budget = seed, min_keep, budget
        self._cache: dict[tuple, tuple[float, int]] = {}

    def keep(self, taus: dict[str, float], sigma: float, project: bool = False):
        scores = {name: perturb(a, sigma, generator(self.seed, "explorer", name)) for name, a in self.alphas.items()}
        if project and self.budget is not None:
            return fit_to_budget(scores, taus, self.flops.ratio, self.budget, self.min_keep)[0]
        return {name: keep_by_threshold(s, taus[name], self.min_keep) for name, s in scores.items()}

    def layer_taus(self, group_values) -> dict[str, float]:
        """Per-layer thresholds from one value per group (in ``self.groups`` order)."""
        return {layer: float(v) for v, layers in zip(group_values, self.groups.values()) for layer in layers}

    @torch.inference_mode()
    def measure(self, taus: dict[str, float], sigma: float, project: bool = False) -> dict:
        keep = self.keep(taus, sigma, project)
        key = tuple(tuple(k.tolist()) for k in keep.values())
        if key not in self._cache:
            self._cache[key] = (self._accuracy(keep), self._params(keep))
        acc, params = self._cache[key]
        return {"widths": {k: len(v) for k, v in keep.items()}, "flops_ratio": self.flops.ratio(keep),
                "params": params, "params_ratio": params / self.dense_params, "acc": acc}

    def _accuracy(self, keep) -> float:
        """Accuracy of the sub-network on the batch: masked in place where that computes what extraction
        computes (far cheaper than a copy per state), else extracted."""
        if not masking_is_exact(self.target):
            return (extract(self.target, keep).eval()(self.x).argmax(1) == self.y).float().mean().item()
        with masked(self.target, keep) as model:
            return (model(self.x).argmax(1) == self.y).float().mean().item()

    def _params(self, keep) -> int:
        """Parameters of the extracted sub-network, from the shapes extraction would give."""
        index = tensor_index(self.target, keep)
        total = 0
        for key, p in self.target.named_parameters():
            if key.endswith(".alpha"):
                continue
            shape = list(p.shape)
            for dim, idx in index.get(key, {}).items():
                shape[dim] = len(idx)
            total += int(np.prod(shape))
        return total

    def grid(self) -> dict[str, list]:
        """Every state of the static explorer: "i,j,..|s|p" (threshold index per group, sigma index, budget
        projection 0/1; 0 only without a budget) -> [accuracy, FLOPs ratio, parameters, widths...]."""
        states, threads = {}, torch.get_num_threads()
        torch.set_num_threads(1)  # many small forward passes: one thread avoids oversubscribing the CPU
        try:
            for idx in itertools.product(range(len(self.thresholds)), repeat=len(self.groups)):
                taus = self.layer_taus([self.thresholds[i] for i in idx])
                for (s, sigma), p in itertools.product(enumerate(self.sigmas), self._projections()):
                    m = self.measure(taus, sigma, bool(p))
                    states[",".join(map(str, idx)) + f"|{s}|{p}"] = [round(m["acc"], 4), round(m["flops_ratio"], 4),
                                                                      m["params"], *m["widths"].values()]
        finally:
            torch.set_num_threads(threads)
        return states

    def _projections(self) -> tuple[int, ...]:
        return (0, 1) if self.budget is not None else (0,)

    def static_html(self) -> str:
        """A self-contained interactive fragment (HTML + plain JavaScript, no kernel, nothing fetched)."""
        uid = "jstx-" + uuid.uuid4().hex[:8]
        middle = len(self.thresholds) // 2
        payload = {"layers": list(self.dense), "dense": list(self.dense.values()), "groups": list(self.groups),
                   "thresholds": list(self.thresholds), "sigmas": list(self.sigmas), "states": self.grid(),
                   "dense_params": self.dense_params, "batch": len(self.y), "budget": self.budget}
        sliders = "".join(
            f'<label style="display:block">{name} threshold '
            f'<input type="range" min="0" max="{len(self.thresholds) - 1}" step="1" value="{middle}" '
            f'data-group="{i}" aria-label="{name} threshold"> <b class="v"></b></label>'
            for i, name in enumerate(self.groups))
        sliders += (f'<label style="display:block">perturbation sigma <input type="range" min="0" '
                    f'max="{len(self.sigmas) - 1}" step="1" value="0" data-sigma="1" aria-label="perturbation sigma">'
                    f' <b class="v"></b></label>')
        if self.budget is not None:
            sliders += ('<label style="display:block"><input type="checkbox" data-project="1" checked '
                        'aria-label="budget projection"> budget projection (as the search draws: thresholds '
                        'scaled by one factor, then the most probable filters added while they fit)</label>')
        return _TEMPLATE.replace("__UID__", uid).replace("__SLIDERS__", sliders).replace(
            "__DATA__", json.dumps(payload, separators=(",", ":")))

    def widget(self, per_layer: bool = False):
        """The live ipywidgets interface (needs a running kernel)."""
        import ipywidgets as w
        import matplotlib.pyplot as plt
        groups = {n: [n] for n in self.alphas} if per_layer else self.groups
        sliders = [w.SelectionSlider(options=list(self.thresholds), value=self.thresholds[len(self.thresholds) // 2],
                                     description=name[:18], continuous_update=False,
                                     style={"description_width": "initial"}) for name in groups]
        sigma = w.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.01, description="sigma", continuous_update=False)
        project = w.Checkbox(value=self.budget is not None, description="budget projection",
                             disabled=self.budget is None)
        text, out = w.HTML(), w.Output()

        def update(_=None):
            taus = {layer: s.value for s, layers in zip(sliders, groups.values()) for layer in layers}
            m = self.measure(taus, sigma.value, project.value)
            text.value = _summary(m, len(self.y), self.budget)
            with out:
                out.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=(7, 0.35 * len(self.dense) + 1))
                names = list(self.dense)
                ax.barh(names, [1.0] * len(names), color="#ddd")
                ax.barh(names, [m["widths"][n] / self.dense[n] for n in names], color="#1f77b4")
                for i, n in enumerate(names):
                    ax.text(1.01, i, f'{m["widths"][n]}/{self.dense[n]}', va="center", fontsize=8)
                ax.invert_yaxis()
                ax.set(xlim=(0, 1.15), xlabel="fraction of filters kept")
                plt.show()

        for s in (*sliders, sigma, project):
            s.observe(update, names="value")
        update()
        return w.VBox([w.HBox([w.VBox(sliders), w.VBox([sigma, project])]), text, out])


def standard_error(acc: float, n: int) -> float:
    """One standard error of an accuracy measured on n images (binomial)."""
    return (acc * (1 - acc) / max(1, n)) ** 0.5


def _summary(m: dict, batch: int, budget: float | None) -> str:
    within = "" if budget is None else (
        f" ({'within' if m['flops_ratio'] <= budget else '<b>over</b>'} the budget of {budget:.0%})")
    return (f"FLOPs kept: <b>{m['flops_ratio']:.1%}</b>{within} &middot; parameters: <b>{m['params']:,}</b> "
            f"({m['params_ratio']:.1%}) &middot; accuracy on {batch} validation images, no retraining: "
            f"<b>{m['acc']:.1%}</b> &plusmn; {standard_error(m['acc'], batch):.1%} (one standard error)")


_TEMPLATE = """<div id="__UID__" class="jst-explorer" style="font-size:0.9em">
<div class="controls">__SLIDERS__</div>
<p class="metrics" aria-live="polite"></p>
<svg class="bars" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="channels kept per layer"></svg>
</div>
<script>
(function () {
  var D = __DATA__;
  var root = document.getElementById("__UID__");
  var inputs = root.querySelectorAll("input[type=range]");
  var project = root.querySelector("input[data-project]");
  var svg = root.querySelector("svg.bars"), metrics = root.querySelector(".metrics");
  var NS = "http://www.w3.org/2000/svg", rowH = 22, left = 150, barW = 360;
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function draw() {
    var idx = [], s = 0;
    inputs.forEach(function (inp) {
      var v = +inp.value, label = inp.parentNode.querySelector(".v");
      if (inp.dataset.sigma) { s = v; label.textContent = D.sigmas[v]; }
      else { idx.push(v); label.textContent = D.thresholds[v]; }
    });
    var st = D.states[idx.join(",") + "|" + s + "|" + (project && project.checked ? 1 : 0)];
    var within = D.budget === null ? "" : (st[1] <= D.budget ? " (within" : " (<b>over</b>") +
      " the budget of " + pct(D.budget) + ")";
    var se = Math.sqrt(st[0] * (1 - st[0]) / D.batch);
    metrics.innerHTML = "FLOPs kept: <b>" + pct(st[1]) + "</b>" + within + " &middot; parameters: <b>" +
      st[2].toLocaleString("en") + "</b> (" + pct(st[2] / D.dense_params) + ") &middot; accuracy on " +
      D.batch + " validation images, no retraining: <b>" + pct(st[0]) + "</b> &plusmn; " + pct(se) +
      " (one standard error)";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("width", left + barW + 70);
    svg.setAttribute("height", rowH * (D.layers.length + 1) + 8);
    // the whole network's FLOPs against the budget, a line marking the budget
    var over = D.budget !== null && st[1] > D.budget;
    svg.appendChild(el("text", {x: left - 6, y: 16, "text-anchor": "end", "font-size": 12,
                                "font-weight": "bold"}, "FLOPs kept"));
    svg.appendChild(el("rect", {x: left, y: 2, width: barW, height: rowH - 6, fill: "#ddd"}));
    svg.appendChild(el("rect", {x: left, y: 2, width: barW * Math.min(1, st[1]), height: rowH - 6,
                                fill: over ? "#d62728" : "#2ca02c", "class": "flops"}));
    if (D.budget !== null) {
      svg.appendChild(el("line", {x1: left + barW * D.budget, x2: left + barW * D.budget, y1: 0, y2: rowH - 2,
                                  stroke: "#000", "stroke-width": 2, "class": "budget"}));
    }
    svg.appendChild(el("text", {x: left + barW + 6, y: 16, "font-size": 12}, pct(st[1])));
    D.layers.forEach(function (name, i) {
      var kept = st[3 + i], y = (i + 1) * rowH + 8;
      svg.appendChild(el("text", {x: left - 6, y: y + 14, "text-anchor": "end", "font-size": 12}, name));
      svg.appendChild(el("rect", {x: left, y: y, width: barW, height: rowH - 6, fill: "#ddd"}));
      svg.appendChild(el("rect", {x: left, y: y, width: barW * kept / D.dense[i], height: rowH - 6,
                                  fill: "#1f77b4", "class": "kept", "data-kept": kept}));
      svg.appendChild(el("text", {x: left + barW + 6, y: y + 14, "font-size": 12}, kept + "/" + D.dense[i]));
    });
  }
  inputs.forEach(function (inp) { inp.addEventListener("input", draw); });
  if (project) project.addEventListener("change", draw);
  draw();
})();
</script>"""
