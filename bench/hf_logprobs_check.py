"""A trained model's `kiln export hf` folder, run as transformers defines it
(the PyTorch definitions of tests/reference/hf_export.py and
hf_deepseek_v3.py, from the folder's config.json and tensors only), against
`kiln eval --tokens … --logprobs kiln.json` on the same ids:

    /usr/bin/python3 bench/hf_logprobs_check.py HF_FOLDER kiln.json [llamacpp.logprobs.json] [--gelu-f16-table]

prints the largest |Δ log p| over every position and vocabulary entry, the
largest over the actual next ids, and both perplexities, as
bench/llamacpp_check.sh does for llama.cpp. LlamaForCausalLM,
GPT2LMHeadModel, DeepseekV3ForCausalLM.

With llama.cpp's log-probabilities of the same ids (bench/llamacpp_check.sh
writes them), also the largest |Δ log p| between llama.cpp and this
definition. --gelu-f16-table computes GPT-2's GELU as ggml's CPU backend does
(GGML_GELU_FP16: the input rounded to f16, the value looked up in a table of
f16 results; 0 below −10, x above 10), to tell that rounding from the rest.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from hf_deepseek_v3 import Dims, forward  # noqa: E402
import hf_export  # noqa: E402
from hf_export import hf_gpt2_logits, hf_llama_logits, read_safetensors  # noqa: E402


EXACT_GELU = hf_export.gelu_new


def gelu_f16_table(x):
    rounded = EXACT_GELU(x.half().float()).half().float()
    return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, rounded))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--gelu-f16-table" in sys.argv:
        hf_export.gelu_new = gelu_f16_table
    folder, kiln_path = args[0], args[1]
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    with open(kiln_path) as f:
        kiln = json.load(f)
    w = read_safetensors(os.path.join(folder, "model.safetensors"))
    tokens = torch.tensor([kiln["tokens"]])
    architecture = cfg["architectures"][0]
    with torch.no_grad():
        if architecture == "LlamaForCausalLM":
            logits = hf_llama_logits(cfg, w, tokens)
        elif architecture == "GPT2LMHeadModel":
            logits = hf_gpt2_logits(cfg, w, tokens)
        else:
            assert architecture == "DeepseekV3ForCausalLM", architecture
            logits = forward(w, tokens, "release", Dims(cfg), True)[0]
    theirs = torch.log_softmax(logits[0].double(), -1)
    ours = torch.tensor(kiln["logprobs"], dtype=torch.float64)
    nexts = tokens[0, 1:]
    picked = theirs[torch.arange(len(nexts)), nexts]
    result = {
        "architecture": architecture, "tokens": len(kiln["tokens"]),
        "gelu": "f16 table" if "--gelu-f16-table" in sys.argv else "exact",
        "max_abs_logprob_diff": (theirs - ours).abs().max().item(),
        "max_abs_next_token_diff": (picked - ours[torch.arange(len(nexts)), nexts]).abs().max().item(),
        "transformers_definition_ppl": math.exp(-picked.mean().item()), "kiln_ppl": kiln["ppl"],
    }
    if len(args) > 2:
        with open(args[2]) as f:
            llama = json.load(f)
        assert llama["tokens"] == kiln["tokens"]
        result["llamacpp_max_abs_logprob_diff"] = (theirs - torch.tensor(llama["logprobs"], dtype=torch.float64)).abs().max().item()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
