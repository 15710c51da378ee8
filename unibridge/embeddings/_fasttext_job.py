"""Train one skip-gram fastText model in a fresh interpreter and save its word vectors.

Run as ``python _fasttext_job.py CORPUS OUT.npz PARAMS_JSON`` by
:func:`unibridge.embeddings.static.train_static_space`. fastText 0.9.3 intermittently
diverges ("Encountered NaN") when trained inside a long-lived process that has already done
other numeric work, and never did so in a fresh process in our measurements, so training is
isolated here. Only ``fasttext`` and ``numpy`` are imported. Writes ``words`` (str),
``freqs`` int64 and ``vectors`` float32 (n, dim) to OUT.npz; exits 3 if every attempt
diverged.
"""

import json
import os
import sys

import fasttext
import numpy as np


def main(corpus: str, out: str, params: str) -> int:
    p = json.loads(params)
    retries, lr = p.pop("retries"), p.pop("lr")
    for _ in range(retries + 1):
        try:
            model = fasttext.train_unsupervised(corpus, model="skipgram", lr=lr, verbose=0, **p)
            break
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
            lr /= 2
    else:
        return 3
    words, freqs = model.get_words(include_freq=True)
    if p["maxn"] == 0:
        vectors = model.get_input_matrix()[: len(words)]
    else:
        vectors = np.stack([model.get_word_vector(w) for w in words]) if words else \
            np.zeros((0, p["dim"]), np.float32)
    tmp = out + ".tmp.npz"
    np.savez(tmp, words=np.array(words, dtype=str), freqs=np.asarray(freqs, np.int64),
             vectors=np.ascontiguousarray(vectors, dtype=np.float32))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
