"""Engines: algorithms that turn value-function queries into a :class:`~interspect.Spectrum`.

``exact`` (all 2^n masks), ``spex/`` (coded subsampling), ``proxy/`` (ProxySPEX) and
``baselines/`` (LIME, KernelSHAP, Banzhaf, Faith-indices, Shapley-Taylor). :mod:`.registry` names
each of them with one signature and holds the shared defaults.
"""
