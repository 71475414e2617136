using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>The tenancy checks more than one grain makes, each refusing with one message.</summary>
internal static class TenantRules
{
    /// <summary>A display name (null: unchanged or defaulted) must be at most <see cref="TenantNames.MaxDisplayNameLength"/> printable characters.</summary>
    public static void CheckName(string? name)
    {
        if (name is not null && !TenantNames.IsDisplayName(name))
        {
            throw AiFleetException.Invalid($"'name' must be at most {TenantNames.MaxDisplayNameLength} printable characters", "name");
        }
    }

    public static void CheckUserId(string? id, string field)
    {
        if (!TenantNames.IsUserId(id))
        {
            throw AiFleetException.Invalid(TenantNames.UserIdRule, field);
        }
    }
}
