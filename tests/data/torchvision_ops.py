# Applies torchvision 0.14's functional ops (on PIL images, as iBOT/VisionFM pipelines do) to images, for
# the C++ parity test. argv[1]: a JSON list of {"input": png, "output": raw file, "ops": [[name, args...]]}.
# Writes each result as raw uint8 HWC. Fails loudly (non-zero) if torchvision or PIL is missing.
import json
import sys

import numpy as np
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

for case in json.load(open(sys.argv[1])):
    img = Image.open(case["input"])
    img.load()
    for op in case["ops"]:
        name, args = op[0], op[1:]
        if name == "resized_crop":  # top, left, height, width, size
            img = F.resized_crop(img, args[0], args[1], args[2], args[3], [args[4], args[4]],
                                 InterpolationMode.BICUBIC)
        elif name == "resize":  # shorter side
            img = F.resize(img, args[0], InterpolationMode.BICUBIC)
        elif name == "center_crop":
            img = F.center_crop(img, [args[0], args[0]])
        elif name == "hflip":
            img = F.hflip(img)
        elif name == "brightness":
            img = F.adjust_brightness(img, args[0])
        elif name == "contrast":
            img = F.adjust_contrast(img, args[0])
        elif name == "saturation":
            img = F.adjust_saturation(img, args[0])
        elif name == "hue":
            img = F.adjust_hue(img, args[0])
        elif name == "gray":
            img = F.rgb_to_grayscale(img, num_output_channels=1)
        elif name == "blur":  # kernel size, sigma
            img = F.gaussian_blur(img, [args[0], args[0]], [args[1], args[1]])
        elif name == "solarize":
            img = F.solarize(img, args[0])
        else:
            raise ValueError("unknown op " + name)
    np.ascontiguousarray(np.asarray(img, dtype=np.uint8)).tofile(case["output"])
print("done", len(json.load(open(sys.argv[1]))))
