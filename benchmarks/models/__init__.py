"""The zoo models of the training benchmark (``bench_training.py``): each module builds one
model three ways (the legacy API through flowsnap, hand-written ``jax.jit``, PyTorch)."""
