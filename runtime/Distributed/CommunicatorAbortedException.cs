using System;

namespace AttentionGen.Distributed;

/// <summary>
/// An exchange could not complete because its group broke: a rank was disposed or failed while others waited, or a
/// rank waited longer than the group's timeout. The group cannot be used again; create a new one.
/// </summary>
public sealed class CommunicatorAbortedException : InvalidOperationException
{
    /// <summary>Creates the exception with its reason.</summary>
    public CommunicatorAbortedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its reason and cause.</summary>
    public CommunicatorAbortedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
