namespace AttentionGen;

/// <summary>flex_attention's <c>mask_mod</c>: false masks the pair (query <paramref name="q"/>, key <paramref name="kv"/>) out.</summary>
public delegate bool MaskFunction(int b, int h, int q, int kv);

/// <summary>flex_attention's <c>score_mod</c>: the new value of a scaled score, before the softmax.</summary>
public delegate float ScoreFunction(float score, int b, int h, int q, int kv);
