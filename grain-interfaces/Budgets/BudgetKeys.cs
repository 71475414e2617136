namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>
/// Budgets at three levels, all <see cref="IUserBudgetGrain"/>s: a user's keyed by the user id, a team's by
/// <c>team/{org}/{team}</c> and an organization's by <c>org/{org}</c>. User ids never contain '/', so the keys cannot
/// meet. A user's parent is the team their request is charged to (or their organization when they are in no team), a
/// team's is its organization, an organization has none: the chain is fixed by the keys, so it cannot loop.
/// </summary>
public static class BudgetKeys
{
    public const string UserLevel = "user";
    public const string TeamLevel = "team";
    public const string OrgLevel = "org";

    public static string Org(string org) => $"org/{org}";

    public static string Team(string org, string team) => $"team/{org}/{team}";

    /// <summary><see cref="UserLevel"/>, <see cref="TeamLevel"/> or <see cref="OrgLevel"/>.</summary>
    public static string Level(string key) =>
        key.StartsWith("org/", StringComparison.Ordinal) ? OrgLevel
        : key.StartsWith("team/", StringComparison.Ordinal) ? TeamLevel
        : UserLevel;

    /// <summary>A team budget's organization budget; null for the others (a user's parent depends on the request).</summary>
    public static string? TeamParent(string key) =>
        Level(key) == TeamLevel && key.Split('/', 3) is [_, var org, _] ? Org(org) : null;

    /// <summary>How a refusal names the budget: <c>user 'ada'</c>, <c>team 'northfield/10-b'</c>, <c>organization 'northfield'</c>.</summary>
    public static string Describe(string key) => Level(key) switch
    {
        OrgLevel => $"organization '{key[4..]}'",
        TeamLevel => $"team '{key[5..]}'",
        _ => $"user '{key}'",
    };
}
