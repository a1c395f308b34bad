"""The sources pkverify checks, by short id: ``SOURCES[id]`` is the full citation.

Claims, docstrings, reports and the README cite by id plus a locator, e.g.
``"domingos2020 Thm. 1"`` or ``"ntk-notes Lemma 1 (eqs. 3–6)"``; several sources are
separated by ``;``. :func:`cite` expands such a string into full citations, and
:func:`check_source` tells whether every part of it names a known id.

=============  ==========================================================================
id             what it is
=============  ==========================================================================
domingos2020   the paper whose Theorem 1 (and Remarks 1–5) pkverify checks
ntk-notes      lecture notes on NTK theory: Lemma 1 (du/dt = −H(t)(u − y), eqs. 3–6), the
               two-layer net (eq. 9), H* and Lemma 2 (H(0) → H*), Lemma 3 (lazy training),
               the deep fully-connected NTK (eqs. 16–23)
su2021         the vector-output (k × k) path kernel and SGD as a kernel machine
zheng2021      a walkthrough of Domingos 2020
jacot2018      the neural tangent kernel
du2019         the two-layer results the NTK notes' Lemmas 1–3 follow
arora2019      the deep NTK recursion (the notes' eqs. 16–23)
bell2023       the exact kernel equivalence at finite step size (the ``exact`` rule)
explaind2025   the exact path kernel for AdamW and momentum by per-example buffers (the peer)
pytorch-optim  PyTorch's optimizers, whose conventions pkverify.optim follows
trefethen2019  Chebyshev interpolation, chopping and colleague-matrix roots (the kink locator)
=============  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Source", "SOURCES", "cite", "check_source", "source_ids", "parts"]


@dataclass(frozen=True)
class Source:
    """One citable source: ``authors (year). title. venue.`` with an optional ``url``."""

    id: str
    authors: str
    year: int
    title: str
    venue: str
    url: str = ""
    note: str = ""

    def citation(self) -> str:
        """The full reference in one line."""
        text = f"{self.authors} ({self.year}). {self.title}. {self.venue}."
        if self.url:
            text += f" {self.url}"
        if self.note:
            text += f" ({self.note})"
        return text


SOURCES: dict[str, Source] = {
    s.id: s
    for s in (
        Source(
            "domingos2020",
            "Pedro Domingos",
            2020,
            "Every Model Learned by Gradient Descent Is Approximately a Kernel Machine",
            "arXiv:2012.00152",
            "https://arxiv.org/abs/2012.00152",
            "Def. 1 tangent kernel, Def. 2 path kernel, Theorem 1, Remarks 1–5",
        ),
        Source(
            "ntk-notes",
            "Anonymous notes after the NTK chapter of Arora et al., Theory of Deep Learning "
            "(draft monograph)",
            2024,
            "神经正切核(NTK)理论 [Neural tangent kernel theory]",
            "blog article, 2 January 2024",
            "",
            "Lemma 1 = eqs. 3–6, two-layer net = eq. 9, H* and Lemma 2, Lemma 3, "
            "deep NTK = eqs. 16–23",
        ),
        Source(
            "su2021",
            "Su Jianlin (苏剑林)",
            2021,
            "从动力学角度看优化算法: SGD ≈ SVM? [Optimisers seen as dynamics: SGD ≈ SVM?]",
            "PaperWeekly, 20 January 2021",
            "",
            "vector outputs: a k × k kernel per pair",
        ),
        Source(
            "zheng2021",
            "Zheng Zhijie (郑之杰)",
            2021,
            "Every Model Learned by Gradient Descent Is Approximately a Kernel Machine "
            "(reading notes)",
            "blog post, 19 May 2021",
        ),
        Source(
            "jacot2018",
            "Arthur Jacot, Franck Gabriel, Clément Hongler",
            2018,
            "Neural Tangent Kernel: Convergence and Generalization in Neural Networks",
            "Advances in Neural Information Processing Systems 31 (NeurIPS 2018)",
            "https://arxiv.org/abs/1806.07572",
        ),
        Source(
            "du2019",
            "Simon S. Du, Xiyu Zhai, Barnabás Póczos, Aarti Singh",
            2019,
            "Gradient Descent Provably Optimizes Over-parameterized Neural Networks",
            "International Conference on Learning Representations (ICLR 2019)",
            "https://arxiv.org/abs/1810.02054",
        ),
        Source(
            "arora2019",
            "Sanjeev Arora, Simon S. Du, Wei Hu, Zhiyuan Li, Ruslan Salakhutdinov, Ruosong Wang",
            2019,
            "On Exact Computation with an Infinitely Wide Neural Net",
            "Advances in Neural Information Processing Systems 32 (NeurIPS 2019)",
            "https://arxiv.org/abs/1904.11955",
        ),
        Source(
            "bell2023",
            "Brian Bell, Michael Geyer, David Glickenstein, Amanda Fernandez, Juston Moore",
            2023,
            "An Exact Kernel Equivalence for Finite Classification Models",
            "arXiv:2308.00824",
            "https://arxiv.org/abs/2308.00824",
        ),
        Source(
            "explaind2025",
            "Florian Eichin, Yupei Du, Philipp Mondorf, Maria Matveev, Barbara Plank, "
            "Michael A. Hedderich",
            2025,
            "ExPLAIND: Unifying Model, Data, and Training Attribution to Study Model Behavior",
            "arXiv:2505.20076",
            "https://arxiv.org/abs/2505.20076",
            "Theorem 3.1: AdamW as a kernel machine; code: github.com/mainlp/explaind",
        ),
        Source(
            "pytorch-optim",
            "PyTorch contributors",
            2024,
            "torch.optim: SGD, Adam, AdamW",
            "PyTorch documentation and source (torch/optim/sgd.py, torch/optim/adam.py)",
            "https://pytorch.org/docs/stable/optim.html",
        ),
        Source(
            "trefethen2019",
            "Lloyd N. Trefethen",
            2019,
            "Approximation Theory and Approximation Practice, Extended Edition",
            "SIAM, Philadelphia",
            "https://doi.org/10.1137/1.9781611975949",
            "ch. 3–4: Chebyshev points and coefficients; ch. 8 and Aurentz & Trefethen, "
            "'Chopping a Chebyshev series', ACM TOMS 43 (2017): where to cut the series; ch. 15: "
            "Lebesgue constants; ch. 18: roots as eigenvalues of the colleague matrix",
        ),
    )
}


def source_ids() -> tuple[str, ...]:
    """Every known source id, in table order."""
    return tuple(SOURCES)


def parts(source: str) -> list[tuple[str, str]]:
    """``"a Thm. 1; b eq. 2"`` → ``[("a", "Thm. 1"), ("b", "eq. 2")]``."""
    out = []
    for part in source.split(";"):
        part = part.strip()
        if part:
            sid, _, where = part.partition(" ")
            out.append((sid.rstrip(","), where.strip()))
    return out


def check_source(source: str) -> list[str]:
    """The ids in ``source`` that are not in :data:`SOURCES` (empty when all are known)."""
    return [sid for sid, _ in parts(source) if sid not in SOURCES]


def cite(source: str) -> list[str]:
    """Expand ``"id locator; id locator"`` into full citations, one per part.

    An unknown id is kept as written (so a report never drops a source).
    """
    lines = []
    for sid, where in parts(source):
        ref = SOURCES.get(sid)
        if ref is None:
            lines.append(f"{sid} {where}".strip())
        else:
            lines.append(f"{where} — {ref.citation()}" if where else ref.citation())
    return lines
