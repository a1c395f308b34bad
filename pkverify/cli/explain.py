"""``pkverify explain``: one prediction as b(x) + Σ_i a_i(x) K^p(x, x_i), top points first.

    pkverify explain [--trajectory FILE [--model MODULE:FUNCTION]] [--query X] [--top K]
                     [--class C] [--seed N] [--html FILE [--image-shape HxW]]
                     [--scheduler ADDRESS] [-q]

Exit status 0 when b(x) + Σ contributions equals the prediction within tolerance, 1
otherwise, 2 for bad arguments (all checked before any training or kernel work).
"""

from __future__ import annotations

import argparse
from typing import Any

from . import options

__all__ = ["add", "run", "load_model"]


def add(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "explain",
        help="show one prediction as b(x) + Σ_i a_i(x) K^p(x, x_i), top training points first",
        description="Explain a prediction of a trained model term by term (Theorem 1): the "
        "training points with the largest |a_i(x) K^p(x, x_i)|, and the check that b(x) plus "
        "all contributions equals the prediction. For a model with several outputs one output "
        "is explained: the predicted class, or --class C.",
    )
    p.add_argument("--trajectory", metavar="FILE", type=options.nonempty_path,
                   help="a path saved with Trajectory.save (default: the demo model, a tanh "
                   "MLP [3, 16, 1] trained by GD)")
    p.add_argument("--model", metavar="MODULE:FUNCTION",
                   help="for a trajectory trained on a custom, torch or JAX model: a function "
                   "taking no arguments that returns that pkverify Model (pk.models.custom, "
                   "pk.torch.model or pk.jax.model), e.g. mymodels:build (a module importable "
                   "from the current folder) or path/to/file.py:build")
    p.add_argument("--query", metavar="X",
                   help='"x1,x2,..." or a .npy file of shape (d,) or (q, d) (default: a fresh '
                   "point for the demo model, the first training input for a trajectory)")
    p.add_argument("--top", type=int, default=5, metavar="K",
                   help="how many training points to list (default 5)")
    p.add_argument("--class", dest="class_", type=int, metavar="C",
                   help="for a model with several outputs: explain output C (default: each "
                   "query's predicted class)")
    options.add_seed(p, "seed of the demo model")
    p.add_argument("--html", metavar="FILE", type=options.nonempty_path,
                   help="also write the explanation (chart and table) as a self-contained "
                   "HTML page")
    p.add_argument("--image-shape", metavar="HxW",
                   help="draw the inputs in the HTML page as grey images of this shape (e.g. "
                   "8x8): the query and its top proponents and opponents (default: a torch "
                   "model's input shape (1, H, W); otherwise no images)")
    options.add_scheduler(p, "compute the contributions as blocks on a Dask cluster that "
                          "reads the --trajectory's store (a folder pk.train(..., store=PATH) "
                          "wrote, on a filesystem the workers share)")
    options.add_quiet(p)
    p.set_defaults(handler=run)
    return p


def load_model(spec: str) -> Any:
    """``MODULE:FUNCTION`` → the Model that ``FUNCTION()`` returns. MODULE is a module name
    importable from the current folder, or the path of a ``.py`` file."""
    import importlib
    import importlib.util
    import os
    import sys
    from pathlib import Path

    from ..errors import InvalidArgumentError
    from ..models.base import Model

    module_name, sep, func_name = spec.rpartition(":")
    if not sep or not module_name or not func_name.isidentifier():
        raise InvalidArgumentError(
            f"--model {spec!r} is not MODULE:FUNCTION; write e.g. --model mymodels:build, "
            "where build() returns the pkverify Model the trajectory was trained on."
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser()
            loader = importlib.util.spec_from_file_location(path.stem, path)
            if loader is None or loader.loader is None or not path.is_file():
                raise FileNotFoundError(f"no file {str(path)!r}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())  # the console script does not put it there
            module = importlib.import_module(module_name)
    except Exception as exc:
        raise InvalidArgumentError(
            f"--model {spec!r}: importing {module_name!r} failed ({type(exc).__name__}: {exc}); "
            "give a module importable from the current folder or the path of a .py file."
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise InvalidArgumentError(
            f"--model {spec!r}: {module_name!r} has no function {func_name!r}."
        )
    try:
        model = func()
    except Exception as exc:
        raise InvalidArgumentError(
            f"--model {spec!r}: calling {func_name}() failed ({type(exc).__name__}: {exc})."
        ) from exc
    if not isinstance(model, Model):
        raise InvalidArgumentError(
            f"--model {spec!r}: {func_name}() returned {type(model).__name__}, not a pkverify "
            "Model; return e.g. pk.models.custom(f, w0), pk.torch.model(module) or "
            "pk.jax.model(apply_fn, params)."
        )
    return model


def _load(path: str, model_spec: str | None) -> Any:
    from ..errors import InvalidArgumentError, ModelRequiredError
    from ..report.explain import load_trajectory

    model = load_model(model_spec) if model_spec else None
    try:
        return load_trajectory(path, model)
    except ModelRequiredError:
        if model is None:
            raise InvalidArgumentError(
                f"{path!r} was trained on a custom model, which a file cannot hold; give the "
                "function that builds it: --model MODULE:FUNCTION (e.g. --model mymodels:build "
                "with build() returning the pk.models.custom(...) Model)."
            ) from None
        raise


def run(args: argparse.Namespace) -> int:
    """``pkverify explain``."""
    from contextlib import nullcontext

    from ..errors import InvalidArgumentError
    from ..progress import disabled
    from ..report.explain import (
        DEMO_INPUT_DIM,
        explain,
        parse_query,
        render_html_page,
        render_text,
    )

    if args.top < 1:
        raise InvalidArgumentError(f"--top must be at least 1; got {args.top}.")
    if args.model and not args.trajectory:
        raise InvalidArgumentError("--model applies to --trajectory FILE; give both.")
    if args.scheduler is not None and not args.trajectory:
        raise InvalidArgumentError(
            "--scheduler needs --trajectory STORE: the workers read the path from a store "
            "folder that pk.train(..., store=PATH) wrote."
        )
    if args.scheduler is not None and args.html:
        raise InvalidArgumentError(
            "--html shows a_i(x) and K^p(x, x_i), which the in-process pass computes; leave "
            "out --scheduler (or --html)."
        )
    html_target = options.output_file(args.html, "--html") if args.html else None
    from ..report.pixels import image_shape_for, parse_image_shape

    if args.image_shape and not args.html:
        raise InvalidArgumentError("--image-shape applies to the --html page; give both.")
    if args.trajectory:
        traj = _load(args.trajectory, args.model)
        queries = (parse_query(args.query, traj.model.input_dim) if args.query
                   else traj.X[:1])
        title = f"pkverify explain — {args.trajectory}"
    else:
        queries = parse_query(args.query, DEMO_INPUT_DIM) if args.query else None
        if args.class_ is not None:
            raise InvalidArgumentError(
                "--class applies to models with several outputs; the demo model has one output. "
                "Leave --class out, or give a --trajectory of a multi-output model."
            )
        if args.image_shape:  # checked before the demo model is trained
            parse_image_shape(args.image_shape, DEMO_INPUT_DIM)
        from ..claims.problems import demo_query, demo_trajectory

        queries = demo_query(args.seed) if queries is None else queries
        traj = demo_trajectory(args.seed)
        title = "pkverify explain — demo model (tanh MLP [3, 16, 1], GD on MSE)"
    top = min(args.top, traj.X.shape[0])
    shape = (parse_image_shape(args.image_shape, traj.X.shape[1]) if args.image_shape
             else image_shape_for(traj.model))  # checked before any work
    render: Any = render_text
    with disabled() if args.quiet else nullcontext():
        if args.scheduler is not None:
            from ..dask_client import connect
            from .explain_cluster import explain_on_cluster, render_contributions

            client = connect(args.scheduler)  # SchedulerUnreachableError within seconds
            try:
                expls = explain_on_cluster(traj, queries, top, args.class_, client)
            finally:
                client.close()
            render = render_contributions
        else:
            expls = explain(traj, queries, top, class_=args.class_)
    print(f"{title}: {traj.X.shape[0]} training points, {traj.steps} steps, T = {traj.T:g}")
    for e in expls:
        print()
        print(render(e, traj.X, traj.Y))
    if html_target is not None:
        from ..io import atomic_write_text

        atomic_write_text(html_target, render_html_page(expls, traj.X, title, traj.Y,
                                                        image_shape=shape), "--html file")
        print(f"\nwrote {html_target}")
    return 0 if all(e.ok for e in expls) else 1
