"""Peers timed beside gradlogpi by `benchmarks.paths`: hand-written references and other libraries.

Each module's functions take a budget and return (environment steps, seconds). The other
libraries (Stable-Baselines3, MushroomRL, Tianshou, EnvPool) live in the `bench` venv made
by `bash dev.sh bench`; they are never dependencies of gradlogpi. A peer that cannot be
imported is reported as missing, not as slow.
"""
