# The baseline for bench_data: iBOT's DataAugmentationiBOT multi-crop pipeline with torchvision 0.14 + PIL
# (decode, 2 x 224 global + N x 96 local crops, flip, colour jitter, grayscale, blur, solarize, normalise)
# plus iBOT's blockwise masking of the global crops, on one thread. Usage: script SECONDS LOCAL_CROPS FILE...
# Prints "<file> <images per second>" per file.
import io
import math
import random
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

torch.set_num_threads(1)
BICUBIC = transforms.InterpolationMode.BICUBIC
flip_and_color_jitter = transforms.Compose([
    transforms.RandomHorizontalFlip(p=0.5),
    transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
    transforms.RandomGrayscale(p=0.2),
])
normalize = transforms.Compose([transforms.ToTensor(),
                                transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
blur = lambda p: transforms.RandomApply([transforms.GaussianBlur(9, (0.1, 2.0))], p=p)
global1 = transforms.Compose([transforms.RandomResizedCrop(224, (0.32, 1.0), (0.8, 1.2), BICUBIC),
                              flip_and_color_jitter, blur(1.0), normalize])
global2 = transforms.Compose([transforms.RandomResizedCrop(224, (0.32, 1.0), (0.8, 1.2), BICUBIC),
                              flip_and_color_jitter, blur(0.1), transforms.RandomSolarize(128, p=0.2), normalize])
local = transforms.Compose([transforms.RandomResizedCrop(96, (0.05, 0.32), (0.8, 1.2), BICUBIC),
                            flip_and_color_jitter, blur(0.5), normalize])
log_aspect = (math.log(0.3), math.log(1 / 0.3))


def block_mask(H, W):  # iBOT ImageFolderMask, pred_ratio 0 or U(0.1, 0.5)
    high = (random.uniform(0.1, 0.5) if random.random() < 0.5 else 0.0) * H * W
    mask = np.zeros((H, W), dtype=bool)
    mask_count = 0
    while mask_count < high:
        max_mask_patches = high - mask_count
        delta = 0
        for _ in range(10):
            low = (min(H, W) // 3) ** 2
            target_area = random.uniform(low, max_mask_patches)
            aspect_ratio = math.exp(random.uniform(*log_aspect))
            h = int(round(math.sqrt(target_area * aspect_ratio)))
            w = int(round(math.sqrt(target_area / aspect_ratio)))
            if w < W and h < H:
                top = random.randint(0, H - h)
                left = random.randint(0, W - w)
                num_masked = mask[top:top + h, left:left + w].sum()
                if 0 < h * w - num_masked <= max_mask_patches:
                    for i in range(top, top + h):
                        for j in range(left, left + w):
                            if mask[i, j] == 0:
                                mask[i, j] = 1
                                delta += 1
            if delta > 0:
                break
        if delta == 0:
            break
        mask_count += delta
    return mask


def pipeline(data, local_crops):
    img = Image.open(io.BytesIO(data)).convert("RGB")  # what ImageFolder's pil_loader does
    crops = [global1(img), global2(img)] + [local(img) for _ in range(local_crops)]
    masks = [block_mask(14, 14) for _ in range(2)]
    return crops, masks


seconds, local_crops = float(sys.argv[1]), int(sys.argv[2])
for path in sys.argv[3:]:
    data = open(path, "rb").read()
    pipeline(data, local_crops)  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pipeline(data, local_crops)
        n += 1
    print(path, n / (time.perf_counter() - start), flush=True)
