"""Stacked training: K recipes of one replicate trained at once, as K copies of one small model.

``train_stacked(data, recipes, seed, device)`` stands for ``[train(data, r, seed, device) for r in
recipes]`` where the recipes share the model, data, budget, optimiser, schedule and sampling but
may differ in loss, loss parameters, lr and weight decay. With one seed every sequential run builds
the same initial weights and draws the same batch orders and augmentations, so the model is built
once and copied K times and one batch order serves all. The K weight sets (and batch-norm buffers,
whose running statistics update under vmap) are stacked by ``torch.func.stack_module_state``; one
``torch.vmap`` of ``functional_call`` runs all K forwards; each loss is applied, outside vmap, to
its own model's logits; the summed loss is backpropagated once; SGD (momentum, Nesterov) or AdamW is
stepped by hand on the stacked tensors with a rate and a decay per model, as torch's foreach code
does. Optimiser settings, decay rule and schedule are read from ``make_optimizer`` and
``make_schedule``.
On the CPU it equals sequential training to float rounding (tests/test_stacked.py): vmap's batched
matmuls round differently (~1e-7 relative); runs that amplify rounding (a last batch of 2 under
batch norm; AdamW on the biases before a batch norm, whose true gradient is 0) differ as much as
sequential training differs between 1 and 2 CPU threads.

Applies where ``can_stack`` returns None (else it names the reason): one architecture (the cosine
head decision included), CPU or CUDA, no ``torch.compile``. Any loss: losses run per model outside
vmap (7 of the 10 would run under vmap too; ``label_smoothing``, ``ldam`` and ``soft_f1`` would
not, their ``autograd.Function``s lack ``setup_context``). No epoch callback (no pruning).

Divergence: a model whose loss turns non-finite or grows past ``DIVERGENCE_FACTOR`` (``train``'s
rule and message) leaves the summed loss and is stepped no more; its result carries ``diverged``
and the state ``train`` keeps (its best epoch, else where it stopped); the others go on.

OFF by default: no GPU measurement exists. Nothing calls this module; ``STACK_ENV`` names the
switch the tuning loop is to read once wired. To measure on a GPU: for one replicate's K recipes
(same data and seed, a small model such as the MLP on a feature data set) time K sequential
``train()`` calls and one ``train_stacked`` of the same K side by side on one warm card, one
warm-up run of each first, ``torch.cuda.synchronize()`` before each clock read, K = 2, 4, 8; make
it the CUDA default only where it is faster. On CUDA the forward runs under bf16 autocast as in
``train`` (not yet run on a GPU), but image inputs are not made channels_last here.
"""

from __future__ import annotations

import copy
import math
import time
import types

import torch
from lossbench.config.plan import Recipe
from lossbench.engine import train as one_run  # its steps, reused so that the two cannot drift
from lossbench.engine.data import TrainValData
from lossbench.engine.device import seed_everything
from lossbench.engine.optim import make_optimizer, make_schedule
from lossbench.engine.score import macro_f1_fast
from lossbench.losses import build_loss
from torch.func import functional_call, stack_module_state

STACK_ENV = "LOSSBENCH_STACKED"
"""The future switch ("1": stack where ``can_stack`` allows); read by nothing yet."""
STACKABLE_MODELS = ("linear", "mlp", "small_cnn", "resnet32", "resnet18")


def _key(recipe: Recipe) -> tuple:
    """What must be equal for recipes to be stacked (all but loss, its parameters, lr, decay)."""
    b, config = recipe.budget, recipe.model_config
    model = recipe.model + (" (cosine head)" if recipe.loss in config.cosine_head else "")
    return (model, (config.hidden, config.width, config.augment, config.compile),
            (b.epochs, b.batch_size, b.eval_batch_size, b.select), recipe.optim, recipe.sampling)


def can_stack(recipes: list[Recipe], data: TrainValData, device: torch.device) -> str | None:
    """None when ``train_stacked`` applies to ``recipes``; else why not."""
    if not recipes:
        return "no recipes to train"
    if device.type not in ("cpu", "cuda"):
        return f"stacking runs on cpu or cuda only, not {device.type}"
    keys = [_key(r) for r in recipes]
    for index, what in enumerate(("model", "model settings", "budget", "optimiser", "sampling")):
        values = sorted({str(key[index]) for key in keys})
        if len(values) > 1:
            return f"the recipes differ in {what}: {'; '.join(values)}"
    if recipes[0].model not in STACKABLE_MODELS:
        return f"model {recipes[0].model!r} is not checked for stacking"
    if recipes[0].model_config.compile and device.type == "cuda":
        return "torch.compile is on (not combined with vmap here)"
    return None


def _slice(tensors: dict, k: int) -> dict:
    return {name: t[k].detach().clone() for name, t in tensors.items()}


def train_stacked(data: TrainValData, recipes: list[Recipe], seed: int,
                  device: torch.device) -> list[one_run.FitResult]:
    """``[train(data, r, seed, device) for r in recipes]``, trained together (see the module)."""
    reason = can_stack(recipes, data, device)
    if reason is not None:
        raise ValueError(f"cannot train these recipes stacked: {reason}")
    started, count, first = time.perf_counter(), len(recipes), recipes[0]
    budget, epochs = first.budget, first.budget.epochs
    seed_everything(seed)  # the draws of train(): model, losses, the step count, then batches
    model, _ = one_run._model(first, data, device)
    state = torch.get_rng_state()
    loss_fns = [build_loss(r.loss, num_classes=data.num_classes, class_counts=list(
        data.train_counts), **r.loss_params).to(device) for r in recipes]
    if not torch.equal(state, torch.get_rng_state()):
        raise ValueError("a loss drew random numbers when built; recipes cannot share batches")
    steps_per_epoch = len(one_run._batches(len(data.train), budget.batch_size, torch.device("cpu")))
    probe = make_optimizer(model, first.optim, 1.0, 1.0)  # its kind, settings and decay rule
    decayed = {id(p) for g in probe.param_groups if g["weight_decay"] != 0 for p in g["params"]}
    decay = {name: id(p) in decayed for name, p in model.named_parameters()}
    hyper = probe.param_groups[0]
    adamw = probe.kind == "adamw"
    # the schedule itself, one group per recipe, read for each model's rate every step
    rates = types.SimpleNamespace(param_groups=[{"lr": r.lr} for r in recipes])
    schedule = make_schedule(rates, first.optim, epochs, steps_per_epoch)
    params, buffers = stack_module_state([model] * count)
    slots: dict[str, dict] = {name: {} for name in params}
    decays = torch.tensor([r.weight_decay for r in recipes], dtype=torch.float64)
    decays_here = decays.float().to(device)
    run = torch.vmap(lambda p, b, x: functional_call(model, (p, b), (x,)), in_dims=(0, 0, None))

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return run(params, buffers, x).float()

    def step_all(number: int, active: list[int]) -> None:
        """Step ``number`` of torch's SGD / AdamW (foreach) on the stacked weights, a rate and a
        decay per model; the updates of models no longer ``active`` are dropped."""
        lrs = torch.tensor([g["lr"] for g in rates.param_groups], dtype=torch.float64)
        beta1, beta2 = hyper.get("betas", (0.0, 0.0))
        factors = torch.stack([1 - lrs * decays, -lrs / (1 - beta1 ** number)] if adamw
                              else [-lrs]).float().to(device)  # scalars as torch rounds them
        keep = None if len(active) == count else \
            torch.tensor([k in active for k in range(count)], device=device)
        for name, p in params.items():
            shape = (count,) + (1,) * (p.ndim - 1)
            grad, slot = p.grad if p.grad is not None else torch.zeros_like(p), slots[name]
            if adamw:
                new = p * factors[0].view(shape) if decay[name] else p
                if not slot:
                    slot.update(avg=torch.zeros_like(p), sq=torch.zeros_like(p))
                slot["avg"].lerp_(grad, 1 - beta1)
                slot["sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = slot["sq"].sqrt().div_((1 - beta2 ** number) ** 0.5).add_(hyper["eps"])
                new = new + factors[1].view(shape) * (slot["avg"] / denom)
            else:
                if decay[name]:
                    grad = grad + decays_here.view(shape) * p
                momentum = hyper["momentum"]
                if momentum and "buf" not in slot:
                    slot["buf"] = grad.detach().clone()
                elif momentum:
                    slot["buf"].mul_(momentum).add_(grad, alpha=1 - hyper["dampening"])
                if momentum:
                    grad = grad + momentum * slot["buf"] if hyper["nesterov"] else slot["buf"]
                new = p + factors[0].view(shape) * grad
            p.copy_(new if keep is None else torch.where(keep.view(shape), new, p))
            p.grad = None

    results = [one_run.FitResult(model=model, loss_fn=fn) for fn in loss_fns]
    best: list[dict | None] = [None] * count
    stopped: list[dict | None] = [None] * count  # the state where a diverged model stopped
    first_loss: list[float | None] = [None] * count
    active = list(range(count))
    row_weights = one_run.balanced_weights(data.train.y, data.num_classes) \
        if first.sampling == "balanced" else None
    check_every, number = (1 if device.type == "cpu" else 16), 0  # train's host-sync interval
    factor = one_run.DIVERGENCE_FACTOR
    for epoch in range(epochs):
        for k in active:
            hook = getattr(loss_fns[k], "on_epoch_start", None)
            if hook is not None:
                hook(epoch, epochs)
        model.train()
        batches = one_run._batches(len(data.train), budget.batch_size, device, row_weights)
        total = torch.zeros(count, device=device)
        for step, index in enumerate(batches):
            images = one_run.augment(data.train.x[index], first.model_config.augment)
            logits = forward(one_run._prepare_inputs(data, images, device))
            target = data.train.y[index]
            losses = {k: loss_fns[k](logits[k], target) for k in active}
            for k, loss in losses.items():
                total[k] += loss.detach()
                if first_loss[k] is None:
                    first_loss[k] = abs(float(loss.detach()))
            if (step + 1) % check_every == 0 or step + 1 == len(batches):
                totals = total.tolist()  # one host read for all models
                for k, mean in [(k, totals[k] / (step + 1)) for k in losses]:
                    lr = recipes[k].lr
                    if not math.isfinite(mean):  # the rule and messages of train._epoch
                        why = (f"loss became {float(losses[k].detach()):.4g} at epoch {epoch}, "
                               f"step {step} (lr={lr:.3g})")
                    elif mean > factor * max(first_loss[k], 1e-3):
                        why = (f"loss grew to {mean:.4g} at epoch {epoch}, step {step}, over "
                               f"{factor:g}x its first batch's {first_loss[k]:.4g} (lr={lr:.3g})")
                    else:
                        continue
                    results[k].diverged, stopped[k] = why, _slice({**params, **buffers}, k)
                    active.remove(k)
                    del losses[k]
            if not active:
                break
            sum(losses.values()).backward()
            number += 1
            with torch.no_grad():
                step_all(number, active)
            schedule.step()
        for k in list(active):
            if not all(torch.isfinite(p[k]).all() for p in params.values()):
                results[k].diverged = (f"a weight became non-finite in epoch {epoch} "
                                       f"(lr={recipes[k].lr:.3g})")
                stopped[k] = _slice({**params, **buffers}, k)
                active.remove(k)
        if not active:
            break
        model.eval()
        with torch.no_grad():
            chunks = [forward(one_run._prepare_inputs(data, chunk, device)).cpu()
                      for chunk in torch.split(data.val.x, budget.eval_batch_size)]
        logits = torch.cat(chunks, 1) if chunks else torch.zeros(count, 0, data.num_classes)
        for k in active:
            result = results[k]
            score = macro_f1_fast(data.val.y, logits[k].argmax(1), data.num_classes)
            result.history.append({"epoch": epoch, "train_loss": float(total[k]) / len(batches),
                                   "val_macro_f1": score})
            if budget.select == "last" or result.best_epoch is None or score > result.best_score:
                result.best_epoch, result.best_score = epoch, score
                best[k] = _slice({**params, **buffers}, k)
    seconds = (time.perf_counter() - started) / count  # the stacked run's time, shared equally
    for k, result in enumerate(results):
        result.model = copy.deepcopy(model).train(result.diverged is not None)  # as train leaves it
        chosen = best[k] or stopped[k] or _slice({**params, **buffers}, k)
        result.model.load_state_dict(chosen)
        result.seconds = seconds
    return results
