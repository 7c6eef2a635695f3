"""A trained model's `kiln export hf` folder, run as transformers defines it
(the PyTorch definitions of tests/reference/hf_export.py and
hf_deepseek_v3.py, from the folder's config.json and tensors only), against
`kiln eval --tokens … --logprobs kiln.json` on the same ids:

    /usr/bin/python3 bench/hf_logprobs_check.py HF_FOLDER kiln.json

prints the largest |Δ log p| over every position and vocabulary entry, the
largest over the actual next ids, and both perplexities, as
bench/llamacpp_check.sh does for llama.cpp. LlamaForCausalLM,
GPT2LMHeadModel, DeepseekV3ForCausalLM.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from hf_deepseek_v3 import Dims, forward  # noqa: E402
from hf_export import hf_gpt2_logits, hf_llama_logits, read_safetensors  # noqa: E402


def main():
    folder, kiln_path = sys.argv[1], sys.argv[2]
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
    print(json.dumps({
        "architecture": architecture, "tokens": len(kiln["tokens"]),
        "max_abs_logprob_diff": (theirs - ours).abs().max().item(),
        "max_abs_next_token_diff": (picked - ours[torch.arange(len(nexts)), nexts]).abs().max().item(),
        "transformers_definition_ppl": math.exp(-picked.mean().item()), "kiln_ppl": kiln["ppl"],
    }))


if __name__ == "__main__":
    main()
