using AttentionGen;

namespace AttentionGen.SampleApp;

/// <summary>A decoder's causal self-attention: every constant fixed at compile time.</summary>
[FlashAttention(Dim = 256, Heads = 4, DimHead = 64, Causal = true, QBucket = 128, KBucket = 256)]
public partial class DecoderSelfAttention
{
}

/// <summary>An encoder-decoder cross-attention, reading a padded context through a key mask.</summary>
[FlashAttention(Dim = 256, Heads = 8, DimHead = 32)]
public partial class CrossAttention
{
}

/// <summary>The model width is left to the constructor; the rest is specialized.</summary>
[FlashAttention(Heads = 2, DimHead = 64, Causal = true)]
public partial class AnyWidthAttention
{
}

// What the IDE shows for an invalid layer: uncomment to see
//   error AG0004: Heads must be greater than 0, but is 0
// on the argument `Heads = 0`, and the generator emits nothing for the class.
//
// [FlashAttention(Dim = 256, Heads = 0)]
// public partial class BrokenAttention
// {
// }
