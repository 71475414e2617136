using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.Dashboard;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Grpc;

var builder = WebApplication.CreateBuilder(args);
builder.UseDefaultUrlsUnlessConfigured();
builder.AddAiFleetCluster();
builder.AddAiFleetApi();
builder.AddBrowserSecurity();
builder.AddAiFleetGrpc();

var app = builder.Build();
app.UseExceptionHandler();
app.UseBrowserSecurity();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
app.UseRouting();
app.UseBodyLimits();
app.UseAuthentication();
app.UseAuthorization();
app.UseAntiforgery();
app.Services.GetRequiredService<ApiKeyValidator>(); // logs a generated admin key at start when none is configured
app.MapHealthApi();
app.MapKServeApi();
app.MapRealtimeApi();
app.MapRepositoryApi();
app.MapFleetApi();
app.MapAdminApi();
app.MapTenantsApi();
app.MapLifecycleApi();
app.MapVersionsApi();
app.MapOpenAiApi();
app.MapChatApi();
app.MapCoursesApi();
app.MapAiFleetGrpc();
app.MapSignInApi();
app.MapConsoleApi();
app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();
app.MapOrleansDashboard(routePrefix: "/dashboard").RequireAuthorization(ApiServiceExtensions.DashboardPolicy);
app.Run();

/// <summary>The entry point, public for WebApplicationFactory in the tests.</summary>
public partial class Program;
