"""Parameter-free operators, apart from the modules that use them (as stylegan3's torch_utils/ops):
`musical_inpaint.ops.contextual_attention` is the attention kernel and its dense reference."""
