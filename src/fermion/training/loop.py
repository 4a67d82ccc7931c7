"""The training loop. Accelerate does the mechanics; this file reads top to bottom:
set up, resume, train an epoch, validate, checkpoint, stop early, test, save the model."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch import nn

import fermion.runtime as fm
from fermion import modelfile
from fermion.modelfile import architectures
from fermion.modelfile.catalog import HF_MODELS
from fermion.modelfile.detectors import Detector
from fermion.modelfile.folder import save_weights
from fermion.modelfile.schema import ModelSpec
from fermion.payloads import DatasetType
from fermion.precision import Precision, cpu_has_native_bf16, resolve_precision
from fermion.training import checkpoint
from fermion.training.config import TrainConfig
from fermion.training.data import Data, build_data, loader
from fermion.training.metrics import classification_metrics, regression_metrics
from fermion.training.optim import make_optimizer, make_schedule

MIXED = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}
PROGRESS_EVERY_S = 5.0


def train_step(
    accelerator: Accelerator,
    model: nn.Module,
    optimizer: Any,
    loss_of: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    max_grad_norm: float | None,
) -> torch.Tensor:
    """One micro-batch. Inside `accumulate`, Accelerate divides the loss by the number of
    micro-batches, skips DDP's all-reduce (no_sync) and the optimizer step on all but the
    last of them, so N micro-batches of b make one step equal to a batch of N*b."""
    with accelerator.accumulate(model):
        loss = loss_of(x, y)
        accelerator.backward(loss)
        if accelerator.sync_gradients and max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
    return loss


def build_model(config: TrainConfig, data: Data, code_dir: Path) -> nn.Module:
    regression = DatasetType(config.dataset_type) is DatasetType.TABULAR_REGRESSION
    outputs = 1 if regression else len(data.classes)
    if config.model in HF_MODELS and not config.model_file:  # its weights are the pretrained
        return architectures.HFClassifier(config.pretrained, outputs, HF_MODELS[config.model])
    model = architectures.build(
        config.dataset_type,
        config.model,
        outputs,
        data.model_inputs,
        model_file=config.model_file,
        code_dir=code_dir,
    )
    if config.pretrained:
        # A detector's weights file is torchvision's, for the network it wraps.
        target = model.network if isinstance(model, Detector) else model
        missing = architectures.load_pretrained(target, Path(config.pretrained))
        print(f"loaded {config.pretrained}; newly initialised: {missing or 'nothing'}")
    return model


def on_this_host(config: TrainConfig) -> TrainConfig:
    """The configuration with its precision decided by the hardware that runs it."""
    gpus = torch.cuda.device_count()
    precision, reason = resolve_precision(
        Precision(config.precision),
        gpus,
        gpu_bf16=gpus > 0 and torch.cuda.is_bf16_supported(),
        cpu_flag=cpu_has_native_bf16(),
    )
    return replace(config, precision=precision.value, precision_reason=reason)


class Trainer:
    def __init__(self, config: TrainConfig, client: Any, code_dir: Path, out_dir: Path) -> None:
        self.config = config = on_this_host(config)
        self.code_dir = code_dir
        self.client = client
        self.kind = DatasetType(config.dataset_type)
        self.regression = self.kind is DatasetType.TABULAR_REGRESSION
        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            mixed_precision=MIXED[config.precision],
            gradient_accumulation_steps=config.grad_accum,
            # The same shuffle for a given (seed, epoch): a resumed run sees what an
            # uninterrupted one would have.
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        )
        set_seed(config.seed)
        self.data = build_data(config, client)
        self.model = build_model(config, self.data, code_dir)
        self.checkpoints = fm.checkpoint_dir()
        self.out_dir = out_dir
        # Seeded again every epoch (train_epoch): the shuffle and the loader workers'
        # augmentation seeds then depend on (seed, epoch) only, so a resumed run repeats
        # exactly what an uninterrupted one would have done.
        self.shuffle = torch.Generator().manual_seed(config.seed)
        train_loader = loader(
            self.data.train, config, self.data, shuffle=True, generator=self.shuffle
        )
        val_loader = loader(self.data.validation, config, self.data, shuffle=False)
        test_loader = loader(self.data.test, config, self.data, shuffle=False)
        optimizer = make_optimizer(self.model, config.optimizer, config.lr, config.weight_decay)
        (self.model, self.optimizer, self.train_loader, self.val_loader, self.test_loader) = (
            self.accelerator.prepare(self.model, optimizer, train_loader, val_loader, test_loader)
        )
        self.steps_per_epoch = math.ceil(len(self.train_loader) / config.grad_accum)
        self.schedule = make_schedule(
            self.optimizer.optimizer,
            config.scheduler,
            self.steps_per_epoch * config.epochs,
            config.warmup_ratio,
        )
        self.accelerator.register_for_checkpointing(self.schedule)
        self.loss_fn = nn.MSELoss() if self.regression else nn.CrossEntropyLoss()
        self.state: dict[str, Any] = {
            "epoch": -1,
            "step": 0,
            "best": None,
            "best_epoch": None,
            "stale_epochs": 0,
            "history": [],
        }

    # -- printing: rank 0 speaks for the job ------------------------------------------
    def say(self, text: str) -> None:
        if self.accelerator.is_main_process:
            print(text, flush=True)

    def announce(self) -> None:
        c = self.config
        self.say(
            f"training {c.model_file or c.model} on {c.dataset} ({self.kind.value}):"
            f" {len(self.data.train)} train / {len(self.data.validation)} validation /"
            f" {len(self.data.test)} test records"
        )
        self.say(
            f"precision {c.precision} ({c.precision_reason}); {self.accelerator.num_processes}"
            f" process(es), batch {c.batch_size} x {self.accelerator.num_processes}"
            f" x grad-accum {c.grad_accum} = effective batch {c.effective_batch_size}"
        )
        self.say(
            f"{c.optimizer} lr {c.lr:g} weight decay {c.weight_decay:g}, {c.scheduler}"
            f" schedule, warmup {c.warmup_ratio:g}, {c.epochs} epochs of"
            f" {self.steps_per_epoch} steps"
        )

    # -- the run -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.announce()
        fm.log(
            {
                "progress/total_steps": self.steps_per_epoch * self.config.epochs,
                "progress/epochs": self.config.epochs,
            },
            step=0,
        )
        found = checkpoint.find_last(self.checkpoints)
        if found:
            self.state = checkpoint.load_last(self.accelerator, found)
            self.say(f"resuming after epoch {self.state['epoch'] + 1} from {found}")
        for epoch in range(self.state["epoch"] + 1, self.config.epochs):
            train_loss = self.train_epoch(epoch)
            metrics = self.evaluate(self.val_loader)
            self.after_epoch(epoch, train_loss, metrics)
            if self.should_stop():
                self.say(f"early stopping: no improvement for {self.state['stale_epochs']} epochs")
                break
        return self.finish()

    def train_epoch(self, epoch: int) -> float:
        self.model.train()
        self.shuffle.manual_seed(self.config.seed * 1_000_003 + epoch)
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(epoch)
        total, count, seen = 0.0, 0, 0
        started = last_report = time.monotonic()
        for x, y in self.train_loader:
            loss = train_step(
                self.accelerator,
                self.model,
                self.optimizer,
                self.loss,
                x,
                y,
                self.config.max_grad_norm,
            )
            total, count = total + loss.item(), count + 1
            seen += len(y) * self.accelerator.num_processes
            if self.accelerator.sync_gradients:
                self.schedule.step()
                self.state["step"] += 1
                now = time.monotonic()
                rate = seen / max(now - started, 1e-9)
                fm.log(
                    {
                        "train/loss": loss.item(),
                        "lr": self.schedule.get_last_lr()[0],
                        "samples_per_s": rate,
                    },
                    step=self.state["step"],
                )
                if now - last_report > PROGRESS_EVERY_S:
                    last_report = now
                    self.progress(epoch, rate)
        return total / max(count, 1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self.accelerator.autocast():
            out = self.model(x)
        if self.regression:  # on the standardised scale, so the loss is O(1)
            head = self.accelerator.unwrap_model(self.model)[-1]
            return self.loss_fn((out.float() - head.mean) / head.std, (y - head.mean) / head.std)
        return self.loss_fn(out.float(), y)

    def progress(self, epoch: int, rate: float) -> None:
        done = self.state["step"] - epoch * self.steps_per_epoch
        left = (self.config.epochs - epoch) * self.steps_per_epoch - done
        eta = left * self.config.effective_batch_size / max(rate, 1e-9)
        self.say(
            f"epoch {epoch + 1}/{self.config.epochs} step {done}/{self.steps_per_epoch}"
            f" lr {self.schedule.get_last_lr()[0]:.2e} {rate:.0f} samples/s"
            f" ETA {eta:.0f}s"
        )

    @torch.no_grad()
    def evaluate(self, data_loader: Any, details: bool = False) -> dict[str, Any]:
        self.model.eval()
        outputs, targets = [], []
        for x, y in data_loader:
            with self.accelerator.autocast():
                out = self.model(x)
            out, y = self.accelerator.gather_for_metrics((out.float(), y))
            outputs.append(out.cpu())
            targets.append(y.cpu())
        out, y = torch.cat(outputs), torch.cat(targets)
        if self.regression:
            result = regression_metrics(out, y)
            result["loss"] = result["rmse"] ** 2
            return result
        loss = nn.functional.cross_entropy(out, y).item()
        return {"loss": loss, **classification_metrics(out, y, self.data.classes, details)}

    @property
    def metric_name(self) -> str:
        return "rmse" if self.regression else "accuracy"

    def score(self, metrics: dict[str, Any]) -> list[float]:
        """Higher is better. Accuracy on a small validation split saturates and ties, so
        a lower validation loss breaks ties: the best epoch is not simply the first."""
        if self.regression:
            return [-metrics["rmse"]]
        return [metrics["accuracy"], -metrics["loss"]]

    def after_epoch(self, epoch: int, train_loss: float, metrics: dict[str, Any]) -> None:
        score = self.score(metrics)
        if self.state.get("best_score") is None or score > self.state["best_score"]:
            self.state.update(
                best=metrics[self.metric_name], best_score=score, best_epoch=epoch, stale_epochs=0
            )
            if self.accelerator.is_main_process:
                save_weights(
                    self.accelerator.unwrap_model(self.model),
                    self.checkpoints / "best" / "model.safetensors",
                )
        else:
            self.state["stale_epochs"] += 1
        self.state["epoch"] = epoch
        self.state["history"].append({"epoch": epoch + 1, "train_loss": train_loss, **metrics})
        fm.log(
            {"train/epoch_loss": train_loss, **{f"val/{k}": v for k, v in metrics.items()}},
            step=self.state["step"],
        )
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.say(
            f"epoch {epoch + 1}/{self.config.epochs}: train loss {train_loss:.4f};"
            f" validation {shown}" + (" (best)" if self.state["best_epoch"] == epoch else "")
        )
        checkpoint.save_last(self.accelerator, self.checkpoints, self.state)

    def should_stop(self) -> bool:
        patience = self.config.early_stopping
        return bool(patience) and self.state["stale_epochs"] >= patience

    def finish(self) -> dict[str, Any]:
        """Test the best epoch's weights and write the model folder."""
        model = self.accelerator.unwrap_model(self.model)
        best = self.checkpoints / "best" / "model.safetensors"
        self.accelerator.wait_for_everyone()
        if best.exists():
            checkpoint.load_weights(model, best)
        test = self.evaluate(self.test_loader, details=True)
        summary = {
            "best_epoch": (self.state["best_epoch"] or 0) + 1,
            f"best_validation_{self.metric_name}": self.state["best"],
            "test": test,
            "history": self.state["history"],
        }
        headline = {k: v for k, v in test.items() if isinstance(v, float)}
        fm.log({f"test/{k}": v for k, v in headline.items()}, step=self.state["step"])
        self.say("test: " + ", ".join(f"{k} {v:.4f}" for k, v in headline.items()))
        if self.accelerator.is_main_process:
            self.write_model(model, summary)
            self.register()
        self.accelerator.wait_for_everyone()
        return summary

    def register(self) -> None:
        """Put the model in the registry, linked to this job and its dataset version."""
        job_id = fm.job_id()
        if job_id is None or self.client is None or not self.config.register_model:
            return  # run by hand, or a sweep's trial: the model folder is the result
        version = self.client.register_job_model(job_id, self.config.name)
        self.say(f"registered model {version.ref}")

    def write_model(self, model: nn.Module, summary: dict[str, Any]) -> None:
        folder = self.out_dir / "model"
        code = {}
        if self.config.model_file:  # the class, so the model can be rebuilt to serve it
            source = self.config.model_file.partition(":")[0]
            code[source] = self.code_dir / source
        spec = ModelSpec(**self.config.to_dict())
        modelfile.save(
            folder,
            model,
            spec,
            self.data.classes,
            self.data.preprocessing,
            summary,
            hf_processor=self.data.hf_processor,
            code=code,
        )
        self.say(f"model written to {folder}")
