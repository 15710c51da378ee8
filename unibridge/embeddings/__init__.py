"""Target-vocabulary embedding initialisation (stage 2 of UniBridge).

Importing this package registers every built-in initializer: ``unibridge`` (Eq. 2–8 of Pham
et al. 2024), ``focus`` (Dobler & de Melo 2023), ``fvt`` (Gee et al. 2022), ``random`` (Xavier normal), ``ident``,
``script`` and ``script+posn`` (REINIT-IDENT, -SCRIPT+IDENT, -SCRIPT+POSN+IDENT of Downey et
al. 2023), ``tema`` (bilingual-dictionary mapping), ``va`` (vocabulary augmentation:
the base vocabulary plus the top-n target pieces, Chau et al. 2020), ``align`` (IBM Model 1
word alignments of parallel sentences, Brown et al. 1993) and ``roman`` (FVT over uroman's
romanisation, for scripts the base cannot read). Use :func:`initialize_embeddings` with
a method name.
"""

from unibridge.embeddings.registry import (InitResult, available_initializers,
                                           canonical_token, get_initializer,
                                           initialize_embeddings, lexical_overlap,
                                           register_initializer, special_token_map)
from unibridge.embeddings.static import (StaticConfig, StaticSpace, mutual_argmax, procrustes,
                                         train_static_space)
from unibridge.embeddings.script import (ScriptStats, sample_script_normal, script_statistics,
                                         token_script)
# Importing the plug-in modules registers them ("script" registers in script.py).
from unibridge.embeddings import align, augment, focus, fvt, random_init, roman, tema, unibridge_init  # noqa: F401
from unibridge.embeddings.augment import augment_tokenizer
from unibridge.embeddings.unibridge_init import combine_rows
from unibridge.embeddings.plot import plot_embedding_pca
from unibridge.embeddings.artifact import save_init_result

__all__ = [
    "InitResult", "StaticConfig", "augment_tokenizer", "StaticSpace", "ScriptStats", "available_initializers",
    "canonical_token", "combine_rows", "get_initializer", "initialize_embeddings",
    "lexical_overlap", "mutual_argmax", "plot_embedding_pca", "procrustes", "register_initializer", "save_init_result",
    "sample_script_normal", "script_statistics", "special_token_map", "token_script",
    "train_static_space",
]
