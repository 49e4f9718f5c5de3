"""The object detector, one job per module (the design: :mod:`.detector`'s docstring).

detector.py      the facade: ``Detector`` (fit, predict, export) and ``DetectorConfig``
recipes.py       Regular and Advanced: input size, steps, learning rates, augmentation
network.py       EfficientNet-Lite0 + PAN + GFL head, and the geometry of its outputs
assignment.py    ATSS: which points learn which object
losses.py        Quality Focal, GIoU and Distribution Focal losses
data.py          decoded images, whole or tiled views, augmented batches
augment.py       windows, flips, quarter turns and colour jitter
box_ops.py       IoU, GIoU and exact NMS in plain, ONNX-exportable torch
fitting.py       the optimisation loop, its schedules and the weight average
inference.py     decoding, NMS and tiled prediction
export.py        the ONNX file prediction serves
"""
