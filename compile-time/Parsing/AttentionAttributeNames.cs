namespace AttentionGen.CompileTime.Parsing;

/// <summary>Metadata names of the attributes the generator reads.</summary>
internal static class AttentionAttributeNames
{
    public const string FlashAttention = "AttentionGen.FlashAttentionAttribute";
    public const string Dilated = "AttentionGen.DilatedAttribute";
    public const string Sparse = "AttentionGen.SparseAttribute";
    public const string Local = "AttentionGen.LocalAttribute";
    public const string Flex = "AttentionGen.FlexAttribute";
    public const string MaskMod = "AttentionGen.MaskModAttribute";
    public const string ScoreMod = "AttentionGen.ScoreModAttribute";

    /// <summary>The attributes that each declare a whole module; a class takes one of them.</summary>
    public static readonly string[] Modules = [FlashAttention, Dilated, Sparse, Local, Flex];
}
