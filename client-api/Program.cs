using Orleans.Dashboard;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.ClientApi.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddAiFleetCluster();
builder.AddAiFleetApi();

var app = builder.Build();
app.UseExceptionHandler();
app.MapHealthApi();
app.MapKServeApi();
app.MapFleetApi();
app.MapPrometheusScrapingEndpoint("/metrics");
app.MapOrleansDashboard(routePrefix: "/dashboard");
app.Run();

/// <summary>The entry point, public for WebApplicationFactory in the tests.</summary>
public partial class Program;
