using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests.Tenancy;

/// <summary>
/// Who may call each admin and console route: every row of <see cref="Matrix"/> against every role. Org A has teams t1
/// and t2, org B team t9; the callers are no credential, a platform user key, the platform admin, A's and B's org
/// admins, t1's team admin and a member of t1. Anything outside a tenant admin's reach answers 404 naming the org, team
/// or user; a member, and every tenant role on the platform's routes, 403. Without a credential every row is 401.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class TenantAuthorizationTests(ApiFixture fixture)
{
    public const int Ok = 200, Made = 201, Done = 204, Bad = 400, Deny = 403, Miss = 404, Clash = 409;

    /// <summary>404 whose problem detail names the organization, the team or the user.</summary>
    public const int NoOrg = 4041, NoTeam = 4042, NoUser = 4043;

    private static readonly string[] Roles = ["anonymous", "user", "admin", "orgAdminA", "orgAdminB", "teamAdminA", "memberA"];

    /// <summary>
    /// {A} and {B} are the orgs, {memberA}... the users set up below; {fresh} is a new id each send; {victim1},
    /// {victim2} and {victim9} a member of t1, t2 or t9 made just before the send (for the rows that delete or promote).
    /// </summary>
    private static readonly Row[] Matrix =
    [
        //   method    path                                                   body                                           user  admin  orgA   orgB   teamA  member
        new("POST",   "/v1/admin/orgs",                                      """{"id":"{fresh}","name":"New"}""",             Deny, Made,  Deny,  Deny,  Deny,  Deny),
        new("GET",    "/v1/admin/orgs",                                      null,                                            Deny, Ok,    Ok,    Ok,    Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}",                                  null,                                            Deny, Ok,    Ok,    NoOrg, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{B}",                                  null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{fresh}",                              null,                                            Deny, NoOrg, NoOrg, NoOrg, NoOrg, Deny),
        new("POST",   "/v1/admin/orgs/{A}/teams",                            """{"id":"{fresh}","name":"New","memberDefault":{"daily":1}}""", Deny, Made, Made, NoOrg, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams",                            null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{B}/teams",                            null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t1",                         null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t2",                         null,                                            Deny, Ok,    Ok,    NoOrg, NoTeam, Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/{fresh}",                    null,                                            Deny, NoTeam, NoTeam, NoOrg, NoTeam, Deny),
        new("GET",    "/v1/admin/orgs/{B}/teams/t9",                         null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("PATCH",  "/v1/admin/orgs/{A}/teams/t1",                         """{"name":"Team one"}""",                       Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("PATCH",  "/v1/admin/orgs/{A}/teams/t2",                         """{"name":"Team two"}""",                       Deny, Ok,    Ok,    NoOrg, NoTeam, Deny),
        new("PATCH",  "/v1/admin/orgs/{B}/teams/t9",                         """{"name":"Team nine"}""",                      Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        // Deleting a team with members is a conflict: the 409 shows the caller got past the checks without losing the team.
        new("DELETE", "/v1/admin/orgs/{A}/teams/t1",                         null,                                            Deny, Clash, Clash, NoOrg, Deny,  Deny),
        new("DELETE", "/v1/admin/orgs/{A}/teams/t2",                         null,                                            Deny, Clash, Clash, NoOrg, NoTeam, Deny),
        new("DELETE", "/v1/admin/orgs/{B}/teams/t9",                         null,                                            Deny, Clash, NoOrg, Clash, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t1/members",                 null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t2/members",                 null,                                            Deny, Ok,    Ok,    NoOrg, NoTeam, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users",                            null,                                            Deny, Ok,    Ok,    NoOrg, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{B}/users",                            null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{fresh}",                    """{"role":"member","teams":["t1"]}""",          Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{fresh}",                    """{"role":"member","teams":["t2"]}""",          Deny, Ok,    Ok,    NoOrg, Deny,  Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{fresh}",                    """{"role":"team_admin","teams":["t1"]}""",      Deny, Ok,    Ok,    NoOrg, Deny,  Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{fresh}",                    """{"role":"org_admin","teams":[]}""",           Deny, Ok,    Ok,    NoOrg, Deny,  Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{victim1}",                  """{"role":"team_admin"}""",                     Deny, Ok,    Ok,    NoOrg, Deny,  Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{memberA}",                  """{"role":"member","teams":["t1"]}""",          Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{memberA2}",                 """{"role":"member","teams":["t2"]}""",          Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{orgAdminA}",                """{"role":"org_admin","teams":[]}""",           Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{memberB}",                  """{"role":"member","teams":["t1"]}""",          Deny, Clash, NoUser, NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{memberA}",                  null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{memberA2}",                 null,                                            Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{teamAdminA}",               null,                                            Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{orgAdminA}",                null,                                            Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{memberB}",                  null,                                            Deny, NoUser, NoUser, NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{B}/users/{memberB}",                  null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("DELETE", "/v1/admin/orgs/{A}/users/{victim1}",                  null,                                            Deny, Done,  Done,  NoOrg, Done,  Deny),
        new("DELETE", "/v1/admin/orgs/{A}/users/{victim2}",                  null,                                            Deny, Done,  Done,  NoOrg, NoUser, Deny),
        new("DELETE", "/v1/admin/orgs/{B}/users/{victim9}",                  null,                                            Deny, Done,  NoOrg, Done,  NoOrg, Deny),
        new("POST",   "/v1/admin/orgs/{A}/users/{memberA}/keys",             """{"name":"authz"}""",                          Deny, Made,  Made,  NoOrg, Made,  Deny),
        new("POST",   "/v1/admin/orgs/{A}/users/{memberA2}/keys",            """{"name":"authz"}""",                          Deny, Made,  Made,  NoOrg, NoUser, Deny),
        new("POST",   "/v1/admin/orgs/{B}/users/{memberB}/keys",             """{"name":"authz"}""",                          Deny, Made,  NoOrg, Made,  NoOrg, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{memberA}/budget",           """{"daily":100}""",                             Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("PUT",    "/v1/admin/orgs/{A}/users/{memberA2}/budget",          """{"daily":100}""",                             Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{memberA}/budget",           null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}/users/{memberA2}/budget",          null,                                            Deny, Ok,    Ok,    NoOrg, NoUser, Deny),
        new("GET",    "/v1/admin/orgs/{B}/users/{memberB}/budget",           null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{A}/budget",                           null,                                            Deny, Ok,    Ok,    NoOrg, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{B}/budget",                           null,                                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/budget",                           """{"monthly":500}""",                           Deny, Ok,    Deny,  NoOrg, NoOrg, Deny),
        new("PUT",    "/v1/admin/orgs/{fresh}/budget",                       """{"monthly":500}""",                           Deny, NoOrg, NoOrg, NoOrg, NoOrg, Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t1/budget",                  null,                                            Deny, Ok,    Ok,    NoOrg, Ok,    Deny),
        new("GET",    "/v1/admin/orgs/{A}/teams/t2/budget",                  null,                                            Deny, Ok,    Ok,    NoOrg, NoTeam, Deny),
        new("PUT",    "/v1/admin/orgs/{A}/teams/t1/budget",                  """{"monthly":20}""",                            Deny, Ok,    Ok,    NoOrg, Deny,  Deny),
        new("PUT",    "/v1/admin/orgs/{A}/teams/{fresh}/budget",             """{"monthly":20}""",                            Deny, NoTeam, NoTeam, NoOrg, NoTeam, Deny),
        new("PUT",    "/v1/admin/orgs/{B}/teams/t9/budget",                  """{"monthly":20}""",                            Deny, Ok,    NoOrg, Ok,    NoOrg, Deny),

        // The platform's own routes: the platform admin only (what it gets shown last); every other key 403.
        Platform("POST",   "/v1/admin/keys",                                 """{"user":"{fresh}","role":"user"}""",         Made),
        Platform("GET",    "/v1/admin/keys",                                 null,                                            Ok),
        Platform("DELETE", "/v1/admin/keys/key_nope",                        null,                                            Miss),
        Platform("PUT",    "/v1/admin/budgets/{fresh}",                      """{"daily":1}""",                               Ok),
        Platform("GET",    "/v1/admin/budgets/{fresh}",                      null,                                            Ok),
        Platform("GET",    "/v1/admin/usage",                                null,                                            Ok),
        Platform("PUT",    "/v1/admin/models/no-such-model/versions/1/faults", """{"errorRate":0,"extraLatencyMs":0}""",     Miss),
        Platform("DELETE", "/v1/admin/models/no-such-model/versions/1/faults", null,                                          Miss),
        Platform("GET",    "/v1/admin/models/digits/traffic",                null,                                            Ok),
        Platform("PUT",    "/v1/admin/models/no-such-model/traffic",         "{}",                                            Miss),
        Platform("POST",   "/v1/admin/experiments",                          """{"model":"no-such-model","candidate":"9"}""", Miss),
        Platform("POST",   "/v1/admin/experiments/exp_nope/pause",           null,                                            Miss),
        Platform("PUT",    "/v1/admin/models/no-such-model/versions/9",      null,                                            Miss),
        Platform("DELETE", "/v1/admin/models/no-such-model/versions/9",      null,                                            Miss),
        Platform("GET",    "/v1/fleet",                                      null,                                            Ok),
        Platform("GET",    "/v1/fleet/digits",                               null,                                            Ok),
        Platform("POST",   "/v2/repository/index",                           "{}",                                            Ok),
        Platform("POST",   "/v2/repository/models/no-such-model/load",       null,                                            Miss),
        Platform("POST",   "/v2/repository/models/no-such-model/unload",     null,                                            Miss),
        Platform("GET",    "/console",                                       null,                                            Ok),
        Platform("GET",    "/console/rollouts",                              null,                                            Ok),
        Platform("GET",    "/console/spend",                                 null,                                            Ok),
        Platform("GET",    "/console/keys",                                  null,                                            Ok),
        Platform("GET",    "/console/jobs",                                  null,                                            Ok),
        Platform("GET",    "/console/api/fleet",                             null,                                            Ok),
        Platform("GET",    "/console/api/usage",                             null,                                            Ok),
        Platform("GET",    "/console/api/budgets",                           null,                                            Ok),
        Platform("GET",    "/console/api/experiments",                       null,                                            Ok),
        Platform("GET",    "/console/api/keys",                              null,                                            Ok),
        Platform("GET",    "/console/api/jobs",                              null,                                            Ok),
        Platform("GET",    "/console/api/antiforgery",                       null,                                            Ok),
        // Console changes need the page's antiforgery token, which a Bearer request lacks: 400 once authorized.
        Platform("POST",   "/console/api/experiments",                       """{"model":"no-such-model","candidate":"9"}""", Bad),
        Platform("POST",   "/console/api/experiments/exp_nope/pause",        null,                                            Bad),
        Platform("POST",   "/console/api/keys",                              """{"user":"{fresh}","role":"user"}""",         Bad),
        Platform("POST",   "/console/api/keys/key_nope/revoke",              null,                                            Bad),
        Platform("POST",   "/console/api/budgets/{fresh}",                   """{"daily":1}""",                               Bad),
        Platform("POST",   "/console/api/jobs/saga_nope/cancel",             null,                                            Bad),
        Platform("GET",    "/dashboard/",                                    null,                                            Ok),
        Platform("GET",    "/dashboard/DashboardCounters",                   null,                                            Ok),

        // A signed-in caller's own console page and its data, and the console's assets: everyone with a key.
        new("GET",    "/console/me",                                         null,                                            Ok,   Ok,    Ok,    Ok,    Ok,    Ok),
        new("GET",    "/console/me/budget",                                  null,                                            Ok,   Ok,    Ok,    Ok,    Ok,    Ok),
        new("GET",    "/console/me/usage",                                   null,                                            Ok,   Ok,    Ok,    Ok,    Ok,    Ok),
        new("GET",    "/console/me/jobs",                                    null,                                            Ok,   Ok,    Ok,    Ok,    Ok,    Ok),
        new("GET",    "/console/assets/console.js",                          null,                                            Ok,   Ok,    Ok,    Ok,    Ok,    Ok),
    ];

    private static readonly Lock Gate = new();
    private static Task<World>? _world;

    /// <summary>Every row against every role, the expectation shown as "403", "404 no team" and so on.</summary>
    public static IEnumerable<object?[]> Cases =>
        from row in Matrix from role in Roles select new object?[] { role, row.Method, row.Path, row.Body, Label(row.Expected(role)) };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Route_AnswersEachRoleAsTheMatrixSays(string role, string method, string path, string? body, string expected)
    {
        var world = await WorldAsync();
        var names = new Dictionary<string, string>(world.Names) { ["{fresh}"] = $"fresh-{Guid.NewGuid():N}"[..18] };
        foreach (var (victim, (org, team)) in new[] { ("{victim1}", ("{A}", "t1")), ("{victim2}", ("{A}", "t2")), ("{victim9}", ("{B}", "t9")) })
        {
            if (path.Contains(victim, StringComparison.Ordinal))
            {
                names[victim] = await SaveUserAsync(names[org], $"victim-{Guid.NewGuid():N}", "member", team);
            }
        }

        var resolved = Resolve(path, names);
        using var request = new HttpRequestMessage(new HttpMethod(method), resolved);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            request.Content = new StringContent(Resolve(body, names), Encoding.UTF8, "application/json");
        }

        var http = role == "admin" ? fixture.Http : fixture.Client(world.Keys[role]);
        using var response = await http.SendAsync(request);
        if (http != fixture.Http)
        {
            http.Dispose();
        }

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(int.Parse(expected[..3]) == (int)response.StatusCode,
            $"{role} {method} {path}: expected {expected}, got {(int)response.StatusCode}: {text[..Math.Min(text.Length, 300)]}");
        if (expected.Length > 3)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(text);
            Assert.Equal(404, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Contains(Named(expected[4..], resolved), problem.RootElement.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Lists_ShowATenantAdminOnlyWhatTheyManage()
    {
        var world = await WorldAsync();
        string[] Ids(JsonElement page) => page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!).ToArray();
        using var orgAdminB = fixture.Client(world.Keys["orgAdminB"]);
        using var teamAdminA = fixture.Client(world.Keys["teamAdminA"]);

        Assert.Equal([world.Names["{B}"]], Ids(await orgAdminB.GetFromJsonAsync<JsonElement>("/v1/admin/orgs")));
        Assert.Empty(Ids(await teamAdminA.GetFromJsonAsync<JsonElement>("/v1/admin/orgs")));
        Assert.Equal(["t1"], Ids(await teamAdminA.GetFromJsonAsync<JsonElement>($"/v1/admin/orgs/{world.Names["{A}"]}/teams")));
        var members = Ids(await teamAdminA.GetFromJsonAsync<JsonElement>($"/v1/admin/orgs/{world.Names["{A}"]}/teams/t1/members?limit=500"));
        Assert.Contains(world.Names["{memberA}"], members);
        Assert.DoesNotContain(world.Names["{memberA2}"], members);
    }

    private sealed record Row(string Method, string Path, string? Body, int User, int Admin, int OrgAdminA, int OrgAdminB, int TeamAdminA, int MemberA)
    {
        public int Expected(string role) => role switch
        {
            "anonymous" => 401,
            "user" => User,
            "admin" => Admin,
            "orgAdminA" => OrgAdminA,
            "orgAdminB" => OrgAdminB,
            "teamAdminA" => TeamAdminA,
            _ => MemberA,
        };
    }

    private static Row Platform(string method, string path, string? body, int admin) => new(method, path, body, Deny, admin, Deny, Deny, Deny, Deny);

    private static string Label(int status) => status switch
    {
        NoOrg => "404 no organization",
        NoTeam => "404 no team",
        NoUser => "404 no user",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Resolve(string text, IReadOnlyDictionary<string, string> names) =>
        names.Aggregate(text, (t, n) => t.Replace(n.Key, n.Value, StringComparison.Ordinal));

    /// <summary>What a 404's detail must say: the org, team or user of the path (/v1/admin/orgs/{org}/teams/{team}, .../users/{user}).</summary>
    private static string Named(string thing, string path)
    {
        var parts = path.Split('/');
        string After(string segment) => parts[Array.IndexOf(parts, segment) + 1];
        return thing switch
        {
            "no organization" => $"no organization has id '{After("orgs")}'",
            "no team" => $"no team '{After("teams")}' in organization '{After("orgs")}'",
            _ => $"no user '{After("users")}' in organization '{After("orgs")}'",
        };
    }

    private Task<World> WorldAsync()
    {
        lock (Gate)
        {
            return _world ??= SetUpAsync();
        }
    }

    /// <summary>Org A (teams t1, t2) and org B (t9), their users, and a key for each role; ids unique to this run.</summary>
    private async Task<World> SetUpAsync()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var names = new Dictionary<string, string> { ["{A}"] = $"authz-a-{run}", ["{B}"] = $"authz-b-{run}" };
        foreach (var (org, teams) in new[] { ("{A}", new[] { "t1", "t2" }), ("{B}", new[] { "t9" }) })
        {
            await Expect(HttpStatusCode.Created, fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = names[org], name = org }));
            foreach (var team in teams)
            {
                await Expect(HttpStatusCode.Created, fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{names[org]}/teams", new { id = team, name = team }));
            }
        }

        var keys = new Dictionary<string, string?> { ["anonymous"] = null, ["user"] = await fixture.NewUserKeyAsync($"authz-user-{run}") };
        foreach (var (user, org, role, team) in new[]
        {
            ("memberA", "{A}", "member", "t1"), ("teamAdminA", "{A}", "team_admin", "t1"), ("orgAdminA", "{A}", "org_admin", null),
            ("memberA2", "{A}", "member", "t2"), ("orgAdminB", "{B}", "org_admin", null), ("memberB", "{B}", "member", "t9"),
        })
        {
            names[$"{{{user}}}"] = await SaveUserAsync(names[org], $"{user.ToLowerInvariant()}-{run}", role, team);
            var created = await Expect(HttpStatusCode.Created, fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{names[org]}/users/{names[$"{{{user}}}"]}/keys", new { name = "authz" }));
            keys[user] = (await created.JsonAsync()).GetProperty("key").GetString();
        }

        return new World(names, keys);
    }

    private async Task<string> SaveUserAsync(string org, string user, string role, string? team)
    {
        await Expect(HttpStatusCode.OK, fixture.Http.PutAsJsonAsync($"/v1/admin/orgs/{org}/users/{user}", new { name = user, role, teams = team is null ? [] : new[] { team } }));
        return user;
    }

    private static async Task<HttpResponseMessage> Expect(HttpStatusCode status, Task<HttpResponseMessage> sending)
    {
        var response = await sending;
        Assert.True(response.StatusCode == status, $"set-up: {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return response;
    }

    private sealed record World(IReadOnlyDictionary<string, string> Names, IReadOnlyDictionary<string, string?> Keys);
}
