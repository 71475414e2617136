namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>Writes for grains that are the only writer of their state.</summary>
internal static class PersistentStateExtensions
{
    /// <summary>
    /// Writes the state; when storage reports a version conflict, takes the stored version and writes again. A
    /// conflict here does not mean another writer: a write that timed out may still have landed (a store that hung,
    /// then resumed), or an in-memory store may have lost the state with its silo. The activation's state is the
    /// truth either way, since it is all its callers were told.
    /// </summary>
    public static async Task WriteOwnStateAsync<T>(this IPersistentState<T> state)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            var mine = state.State;
            await state.ReadStateAsync();
            state.State = mine;
            await state.WriteStateAsync();
        }
    }
}
