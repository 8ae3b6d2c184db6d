#!/usr/bin/env python3
"""Writes the first N Fashion-MNIST training images and labels as (uncompressed) IDX files, the input of
the trainer's end-to-end tests. Usage: make_tiny_dataset.py N OUT_DIR"""
import gzip
import struct
import sys

SRC = "/usr/share/datasets/fashion-mnist/"
n, out = int(sys.argv[1]), sys.argv[2]
with gzip.open(SRC + "train-images-idx3-ubyte.gz") as f:
    magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
    images = f.read(n * rows * cols)
with gzip.open(SRC + "train-labels-idx1-ubyte.gz") as f:
    f.read(8)
    labels = f.read(n)
with open(f"{out}/images.idx", "wb") as f:
    f.write(struct.pack(">IIII", magic, n, rows, cols) + images)
with open(f"{out}/labels.idx", "wb") as f:
    f.write(struct.pack(">II", 2049, n) + labels)
