namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>What a model or version name may be: letters, digits, '.', '_' and '-', 1 to <see cref="MaxLength"/> characters.</summary>
public static class ModelNames
{
    public const int MaxLength = 128;

    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= MaxLength } && name.AsSpan().IndexOfAnyExcept(NameChars) < 0;

    private static readonly System.Buffers.SearchValues<char> NameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
}
