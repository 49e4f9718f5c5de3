"""The trainer: one iteration's snapshot in, a model, its manifest and its evaluation out.

    trainer.py          the entry point (``train_iteration``): load, pick the task, record the outcome
    context.py          what a task's training reads (snapshot, images, budget), where it reports and saves
    classification.py   held-out fits (4:1 or 5-fold), then the published classifier
    detection.py        a held-out fit, then (Regular) the published detector
    progress.py         a model's progress mapped onto the iteration's percent

Torch is imported only once a task starts, so importing the entry point is cheap.
"""
