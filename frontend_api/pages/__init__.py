"""Pages for people, server-rendered: one package per site (`results/`: the public results pages), each with its
routes, its message catalogue (Japanese and English) and its templates; `rendering.py` holds what they share."""
