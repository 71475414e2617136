namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's slices of its parents (the persisted list): at most one current slice per parent, which new holds are
/// drawn on, and any closing ones, returned once their open holds end.
/// </summary>
internal sealed class ParentSlices(List<ParentSlice> slices)
{
    /// <summary>A slice this close to its expiry at the parent takes no new holds: a fresh one is leased instead.</summary>
    public static readonly TimeSpan NearExpiry = TimeSpan.FromSeconds(5);

    public int Count => slices.Count;

    public IReadOnlyList<ParentSlice> All => slices;

    public ParentSlice? Find(Guid lease) => slices.Find(s => s.Lease == lease);

    /// <summary>The slice of <paramref name="parent"/> new holds are drawn on, or null; one near its expiry is closed instead.</summary>
    public ParentSlice? Current(string parent, DateTimeOffset now)
    {
        foreach (var slice in slices)
        {
            if (slice.Closing || slice.Parent != parent)
            {
                continue;
            }

            if (slice.ExpiresAt - now < NearExpiry)
            {
                slice.Closing = true;
                continue;
            }

            return slice;
        }

        return null;
    }

    public void Add(ParentSlice slice) => slices.Add(slice);

    public void Remove(ParentSlice slice) => slices.Remove(slice);
}
