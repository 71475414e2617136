using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.GrainInterfaces.Tenancy;

/// <summary>
/// The roles a user of an organization can hold. A platform admin is not a tenant role: it comes only from an admin API
/// key (<see cref="Auth.Roles.Admin"/>), never from a token or a tenant record.
/// </summary>
public static class TenantRoles
{
    /// <summary>Uses the models; sees their own budget and usage.</summary>
    public const string Member = "member";

    /// <summary>Manages the teams they belong to: their members, keys and budgets.</summary>
    public const string TeamAdmin = "team_admin";

    /// <summary>Manages their whole organization: its teams, users, keys and budgets.</summary>
    public const string OrgAdmin = "org_admin";

    public static bool IsValid(string? role) => role is Member or TeamAdmin or OrgAdmin;
}

/// <summary>What ids and names of organizations, teams and users may be.</summary>
public static class TenantNames
{
    /// <summary>Organization and team ids: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.</summary>
    public const int MaxIdLength = 64;

    /// <summary>User ids (an identity provider's <c>sub</c>): printable, no '/' (it separates a team key's parts).</summary>
    public const int MaxUserIdLength = 128;

    public const int MaxDisplayNameLength = 200;

    /// <summary>Teams one user can belong to.</summary>
    public const int MaxTeamsPerUser = 64;

    public const string UserIdRule = "a user id is 1 to 128 printable characters without '/'";

    public const string IdRule = "1 to 64 characters: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit";

    public static bool IsId(string? id) =>
        id is { Length: > 0 and <= MaxIdLength } && (char.IsAsciiLetterLower(id[0]) || char.IsAsciiDigit(id[0]))
        && id.AsSpan().IndexOfAnyExcept(IdChars) < 0;

    public static bool IsUserId(string? id) =>
        id is { Length: > 0 and <= MaxUserIdLength } && !string.IsNullOrWhiteSpace(id) && !id.Any(char.IsControl) && !id.Contains('/');

    public static bool IsDisplayName(string? name) =>
        name is { Length: <= MaxDisplayNameLength } && !name.Any(char.IsControl);

    /// <summary>A team's grain key: its organization and its id.</summary>
    public static string TeamKey(string org, string team) => $"{org}/{team}";

    private static readonly System.Buffers.SearchValues<char> IdChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789._-");
}

/// <summary>An organization (an institution: a school, a university): it holds the contract and the top budget.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.OrgInfo")]
public sealed record OrgInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] DateTimeOffset CreatedAt);

/// <summary>
/// A team of an organization (a class, a cohort, a department). <see cref="MemberDefault"/> is the budget a user gets
/// when first seen in this team (from a token, or added without limits of their own).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.TeamInfo")]
public sealed record TeamInfo(
    [property: Id(0)] string Org,
    [property: Id(1)] string Id,
    [property: Id(2)] string Name,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] BudgetLimits? MemberDefault = null);

/// <summary>
/// A user of an organization: one role, the teams they belong to (the first is where their requests are charged unless
/// a key names another), and the user tier that picks which models they may use (null: the catalogue's default).
/// <see cref="Source"/> says who made the record: <c>admin</c>, or <c>token</c> when provisioned at first sign-in.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.TenantUser")]
public sealed record TenantUser(
    [property: Id(0)] string Id,
    [property: Id(1)] string Org,
    [property: Id(2)] string Name,
    [property: Id(3)] string Role,
    [property: Id(4)] IReadOnlyList<string> Teams,
    [property: Id(5)] string? Tier,
    [property: Id(6)] DateTimeOffset CreatedAt,
    [property: Id(7)] string Source)
{
    public const string FromAdmin = "admin";
    public const string FromToken = "token";

    /// <summary>The team a request is charged to: the one a key names, else the user's first team (none: org and user only).</summary>
    public string? ChargedTeam(string? keyTeam = null) => keyTeam ?? (Teams.Count > 0 ? Teams[0] : null);
}

/// <summary>What an admin sets on a user (the organization comes from the route, the id from the path or body).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.TenantUserSpec")]
public sealed record TenantUserSpec(
    [property: Id(0)] string Org,
    [property: Id(1)] string? Name,
    [property: Id(2)] string Role,
    [property: Id(3)] IReadOnlyList<string> Teams,
    [property: Id(4)] string? Tier);

/// <summary>Who a validated token says its bearer is, after the configured claim mapping.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.TokenIdentity")]
public sealed record TokenIdentity(
    [property: Id(0)] string User,
    [property: Id(1)] string Org,
    [property: Id(2)] IReadOnlyList<string> Teams,
    [property: Id(3)] string Role,
    [property: Id(4)] string? Tier,
    [property: Id(5)] string? Name);

/// <summary>One page of a list in id order, and the cursor for the next (null on the last page).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.Page")]
public sealed record Page<T>(
    [property: Id(0)] IReadOnlyList<T> Items,
    [property: Id(1)] string? Next,
    [property: Id(2)] long Total)
{
    public const int MaxLimit = 500;
    public const int DefaultLimit = 50;
}
