"""The ComfyUI bridge: every SegFuse node as a ComfyUI V3 node, generated from its descriptor.

``schema`` (descriptor → node schema), ``tensors`` (IMAGE/MASK ↔ working-space frames) and
``execute`` (a batch rendered as a clip through the runtime) never import ComfyUI and are tested
with plain torch; ``extension`` is the thin layer that builds ``comfy_api.latest`` classes and is
imported only inside ComfyUI; ``install`` writes the custom-node pack folder.
"""
