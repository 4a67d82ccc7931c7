"""The built-in trainer: `fermion train` runs `python -m fermion.training.run` as a job.

Accelerate carries the mechanics (device placement, DDP, mixed precision, gradient
accumulation without all-reduce on non-sync steps, checkpoint state); what is ours is
the choice of model, data pipeline, optimiser groups, schedule, metrics and the
checkpoint/resume/early-stopping policy.
"""
