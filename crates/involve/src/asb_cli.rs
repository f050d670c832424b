//! `involve asb ...`: officers' commands against a running suite. Readable
//! tables in a terminal, `--output json` for scripts; deadlines in UK local time.
//!
//! The credential comes from `INVOLVE_CREDENTIAL` or `--credential-file` and is
//! only ever sent as `authorization` metadata, never printed.

mod render;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use contracts::google::r#type::Date;
use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

/// Where the suite listens when neither `--endpoint` nor a configuration file says.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";
/// How long to wait for the suite to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How many cases one `ListCases` page asks for when a reference is looked up.
const LOOKUP_PAGE_SIZE: i32 = 100;

#[derive(Debug, Args)]
pub(crate) struct AsbArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: AsbCommand,
}

/// How to reach the suite and what to print; accepted before or after the subcommand.
#[derive(Debug, Args)]
struct ClientArgs {
    /// The suite's gateway, for example http://127.0.0.1:50051 [default: the
    /// configuration file's `listen`, else http://127.0.0.1:50051]
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// A file holding the credential's secret (otherwise INVOLVE_CREDENTIAL).
    #[arg(long, global = true, value_name = "FILE", env = "INVOLVE_CREDENTIAL_FILE")]
    credential_file: Option<PathBuf>,
    /// Configuration file (TOML) whose `listen` is the endpoint; defaults to
    /// ./involve.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The CA certificate (PEM) to trust for an https:// endpoint.
    #[arg(long, global = true, value_name = "FILE", env = "INVOLVE_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum AsbCommand {
    /// What is coming due or overdue: acknowledgements, first responses,
    /// contacts with complainants. Overdue first, then nearest deadline.
    Queue {
        /// One officer's queue.
        #[arg(long)]
        officer: Option<String>,
        /// One team's queue.
        #[arg(long)]
        team: Option<String>,
        /// How far ahead to look (the service's default is 48).
        #[arg(long, value_name = "N")]
        horizon_hours: Option<i32>,
    },
    /// One case: its parties, reports, standards, contacts and interventions.
    Show {
        /// A reference (ASB-2026-000001) or a name (cases/{uuid}).
        case: String,
    },
    /// Report an incident; it joins the open case about the same people or opens one.
    ///
    /// Each party flag takes `customers/{id}`, `unknown` (or `unknown:description`),
    /// or someone outside the customer base as `Name,POSTCODE`.
    Report {
        #[arg(long, value_enum)]
        channel: ReportChannel,
        #[arg(long)]
        area: String,
        /// A category code from reference data (repeatable), for example `noise`.
        #[arg(long = "category", required = true)]
        categories: Vec<String>,
        #[arg(long)]
        description: String,
        #[arg(long, value_parser = parse_person)]
        complainant: Vec<PartyPerson>,
        #[arg(long, value_parser = parse_person)]
        accused: Vec<PartyPerson>,
        #[arg(long, value_parser = parse_person)]
        victim: Vec<PartyPerson>,
        #[arg(long, value_parser = parse_person)]
        witness: Vec<PartyPerson>,
        /// The landlord taking the report (`organisations/{id}`), for officers.
        #[arg(long)]
        landlord: Option<String>,
        /// Where it happened, in words.
        #[arg(long)]
        location: Option<String>,
        /// Makes a retried report safe (a UUID).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// The service standards for cases received between two dates.
    Standards {
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        to: NaiveDate,
    },
    /// Figures for cases received between two dates: by category and perpetrator,
    /// remedies' repeat rate, hotspots, NM01 per landlord, cost per case, and
    /// with --equality the (protected) equality profile and satisfaction gaps.
    Analysis {
        /// First day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        from: NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        to: NaiveDate,
        /// One landlord's cases (`organisations/{id}`).
        #[arg(long)]
        landlord: Option<String>,
        /// Cases in an area in a month that raise a hotspot alert (the service's
        /// setting when unset).
        #[arg(long, value_name = "N")]
        hotspot_threshold: Option<i32>,
        /// The equality characteristic to profile complainants, victims and
        /// perpetrators by.
        #[arg(long, value_enum)]
        equality: Option<EqualityCharacteristic>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EqualityCharacteristic {
    Ethnicity,
    Disability,
    Sex,
    GenderIdentity,
    AgeBand,
    Religion,
    SexualOrientation,
    CaringResponsibilities,
}

impl From<EqualityCharacteristic> for contracts::involve::profiles::v1::Characteristic {
    fn from(characteristic: EqualityCharacteristic) -> Self {
        match characteristic {
            EqualityCharacteristic::Ethnicity => Self::Ethnicity,
            EqualityCharacteristic::Disability => Self::Disability,
            EqualityCharacteristic::Sex => Self::Sex,
            EqualityCharacteristic::GenderIdentity => Self::GenderIdentity,
            EqualityCharacteristic::AgeBand => Self::AgeBand,
            EqualityCharacteristic::Religion => Self::Religion,
            EqualityCharacteristic::SexualOrientation => Self::SexualOrientation,
            EqualityCharacteristic::CaringResponsibilities => Self::CaringResponsibilities,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportChannel {
    Phone,
    ContactCentre,
    Office,
    Email,
    Online,
    OutOfHours,
    PartnerReferral,
}

impl From<ReportChannel> for asb::Channel {
    fn from(channel: ReportChannel) -> Self {
        match channel {
            ReportChannel::Phone => Self::Phone,
            ReportChannel::ContactCentre => Self::ContactCentre,
            ReportChannel::Office => Self::Office,
            ReportChannel::Email => Self::Email,
            ReportChannel::Online => Self::Online,
            ReportChannel::OutOfHours => Self::OutOfHours,
            ReportChannel::PartnerReferral => Self::PartnerReferral,
        }
    }
}

/// A party as typed on the command line.
#[derive(Clone, Debug)]
struct PartyPerson(asb::party::Person);

fn parse_person(text: &str) -> Result<PartyPerson, String> {
    let text = text.trim();
    if text.starts_with("customers/") {
        return Ok(PartyPerson(asb::party::Person::Customer(text.to_owned())));
    }
    if let Some(rest) = text.strip_prefix("unknown")
        && (rest.is_empty() || rest.starts_with(':'))
    {
        let description = rest.trim_start_matches(':').trim().to_owned();
        return Ok(PartyPerson(asb::party::Person::Unknown(asb::UnknownPerson { description })));
    }
    let (name, postcode) = text.split_once(',').unwrap_or((text, ""));
    if name.trim().is_empty() {
        return Err("expected customers/{id}, unknown[:description] or Name,POSTCODE".to_owned());
    }
    Ok(PartyPerson(asb::party::Person::External(asb::ExternalPerson {
        display_name: name.trim().to_owned(),
        postcode: postcode.trim().to_owned(),
        ..Default::default()
    })))
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|err| format!("expected YYYY-MM-DD: {err}"))
}

fn proto_date(date: NaiveDate) -> Date {
    use chrono::Datelike as _;
    // Months and days are 1-12 and 1-31, which always fit.
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    }
}

/// Runs one `involve asb` command; errors go to stderr and a non-zero exit code.
pub(crate) async fn run(args: Box<AsbArgs>) -> ExitCode {
    match execute(*args).await {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(err) => {
            let message = match err.downcast_ref::<tonic::Status>() {
                Some(status) => describe_status(status),
                None => format!("error: {err:#}\n"),
            };
            let _ = std::io::stderr().lock().write_all(message.as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// The status code, message, reason and every field violation, one per line.
fn describe_status(status: &tonic::Status) -> String {
    let mut text = format!("error: {:?}: {}\n", status.code(), status.message());
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        text.push_str(&format!("  reason: {} ({})\n", info.reason, info.domain));
    }
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            text.push_str(&format!("  {}: {}\n", violation.field, violation.description));
        }
    }
    if let Some(failure) = details.precondition_failure() {
        for violation in &failure.violations {
            text.push_str(&format!("  {}: {}\n", violation.subject, violation.description));
        }
    }
    text
}

/// The command's output, or why it failed.
async fn execute(args: AsbArgs) -> anyhow::Result<String> {
    let AsbArgs { client: options, command } = args;
    let mut client = Client::connect(&options).await?;
    let json = options.output == Output::Json;
    match command {
        AsbCommand::Queue { officer, team, horizon_hours } => {
            let request = asb::ListWorkQueueRequest {
                officer: officer.unwrap_or_default(),
                team: team.unwrap_or_default(),
                horizon_hours: horizon_hours.unwrap_or_default(),
                ..Default::default()
            };
            let items = client.work_queue(request).await?;
            Ok(if json { render::json(&render::queue_json(&items)) } else { render::queue_table(&items) })
        }
        AsbCommand::Show { case } => {
            let name = client.case_name(&case).await?;
            let case = client.get_case(name).await?;
            Ok(if json { render::json(&render::case_json(&case)) } else { render::case_text(&case) })
        }
        AsbCommand::Report {
            channel,
            area,
            categories,
            description,
            complainant,
            accused,
            victim,
            witness,
            landlord,
            location,
            request_id,
        } => {
            let roles = [
                (asb::PartyRole::Complainant, complainant),
                (asb::PartyRole::AllegedPerpetrator, accused),
                (asb::PartyRole::Victim, victim),
                (asb::PartyRole::Witness, witness),
            ];
            let parties = roles
                .into_iter()
                .flat_map(|(role, people)| {
                    people.into_iter().map(move |PartyPerson(person)| asb::Party {
                        role: role.into(),
                        person: Some(person),
                        ..Default::default()
                    })
                })
                .collect();
            let report = asb::Report {
                channel: asb::Channel::from(channel).into(),
                area,
                categories,
                description,
                parties,
                landlord_organisation: landlord.unwrap_or_default(),
                location_description: location.unwrap_or_default(),
                ..Default::default()
            };
            let request = asb::ReportIncidentRequest {
                report: Some(report),
                request_id: request_id.unwrap_or_default(),
            };
            let filed = client.report(request).await?;
            Ok(if json { render::json(&render::filed_json(&filed)) } else { render::filed_text(&filed) })
        }
        AsbCommand::Standards { from, to } => {
            let request = asb::GetServiceStandardsRequest {
                start_date: Some(proto_date(from)),
                end_date: Some(proto_date(to)),
            };
            let standards = client.standards(request).await?;
            Ok(if json {
                render::json(&render::standards_json(&standards))
            } else {
                render::standards_table(&standards)
            })
        }
        AsbCommand::Analysis { from, to, landlord, hotspot_threshold, equality } => {
            let request = asb::GetAsbAnalysisRequest {
                start_date: Some(proto_date(from)),
                end_date: Some(proto_date(to)),
                landlord_organisation: landlord.unwrap_or_default(),
                hotspot_threshold: hotspot_threshold.unwrap_or_default(),
                equality_characteristic: equality
                    .map(contracts::involve::profiles::v1::Characteristic::from)
                    .unwrap_or_default()
                    .into(),
            };
            let analysis = client.analysis(request).await?;
            Ok(if json {
                render::json(&render::analysis_json(&analysis))
            } else {
                render::analysis_table(&analysis)
            })
        }
    }
}

/// The ASB service behind the gateway, called with the officer's credential.
struct Client {
    cases: AsbCasesClient<Channel>,
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl Client {
    async fn connect(options: &ClientArgs) -> anyhow::Result<Self> {
        let secret = credential(options)?;
        let authorization = format!("Bearer {secret}")
            .parse()
            .map_err(|_| anyhow!("the credential holds characters that cannot be sent"))?;
        let endpoint = endpoint(options)?;
        let mut channel = Channel::from_shared(endpoint.clone())
            .with_context(|| format!("not an endpoint: {endpoint}"))?
            .connect_timeout(CONNECT_TIMEOUT);
        if endpoint.starts_with("https://") {
            channel = channel.tls_config(tls(options)?).context("cannot set up TLS")?;
        }
        let channel =
            channel.connect().await.with_context(|| format!("cannot reach the suite at {endpoint}"))?;
        Ok(Self { cases: AsbCasesClient::new(channel), authorization })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", self.authorization.clone());
        request
    }

    async fn work_queue(
        &mut self,
        request: asb::ListWorkQueueRequest,
    ) -> anyhow::Result<Vec<asb::WorkQueueItem>> {
        let mut items = Vec::new();
        let mut request = request;
        loop {
            let page = self.cases.list_work_queue(self.request(request.clone())).await?.into_inner();
            items.extend(page.items);
            if page.next_page_token.is_empty() {
                return Ok(items);
            }
            request.page_token = page.next_page_token;
        }
    }

    async fn get_case(&mut self, name: String) -> anyhow::Result<asb::Case> {
        Ok(self.cases.get_case(self.request(asb::GetCaseRequest { name })).await?.into_inner())
    }

    async fn report(
        &mut self,
        request: asb::ReportIncidentRequest,
    ) -> anyhow::Result<asb::ReportIncidentResponse> {
        Ok(self.cases.report_incident(self.request(request)).await?.into_inner())
    }

    async fn standards(
        &mut self,
        request: asb::GetServiceStandardsRequest,
    ) -> anyhow::Result<asb::ServiceStandards> {
        Ok(self.cases.get_service_standards(self.request(request)).await?.into_inner())
    }

    async fn analysis(&mut self, request: asb::GetAsbAnalysisRequest) -> anyhow::Result<asb::AsbAnalysis> {
        Ok(self.cases.get_asb_analysis(self.request(request)).await?.into_inner())
    }

    /// `cases/{uuid}` as given (a bare UUID too); a reference is looked up among
    /// the cases the caller may see, as the contract has no lookup by reference.
    async fn case_name(&mut self, case: &str) -> anyhow::Result<String> {
        if case.starts_with("cases/") {
            return Ok(case.to_owned());
        }
        if !case.to_ascii_uppercase().starts_with("ASB-") {
            return Ok(format!("cases/{case}"));
        }
        let mut request = asb::ListCasesRequest { page_size: LOOKUP_PAGE_SIZE, ..Default::default() };
        loop {
            let page = self.cases.list_cases(self.request(request.clone())).await?.into_inner();
            if let Some(found) = page.cases.iter().find(|found| found.reference.eq_ignore_ascii_case(case)) {
                return Ok(found.name.clone());
            }
            if page.next_page_token.is_empty() {
                bail!("no case {case} among the cases this credential may see");
            }
            request.page_token = page.next_page_token;
        }
    }
}

/// TLS trusting `--ca-file`: the suite's certificates come from the partnership's
/// own CA, so no system roots are assumed.
fn tls(options: &ClientArgs) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    let Some(file) = &options.ca_file else {
        bail!("an https:// endpoint needs --ca-file (the CA that signed the suite's certificate)");
    };
    let pem = std::fs::read(file).with_context(|| format!("cannot read the CA file {}", file.display()))?;
    Ok(tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem)))
}

/// The secret from `--credential-file`, else `INVOLVE_CREDENTIAL`.
fn credential(options: &ClientArgs) -> anyhow::Result<String> {
    let secret = match &options.credential_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the credential file {}", file.display()))?,
        None => std::env::var("INVOLVE_CREDENTIAL")
            .map_err(|_| anyhow!("no credential: set INVOLVE_CREDENTIAL or pass --credential-file"))?,
    };
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("the credential is empty");
    }
    Ok(secret)
}

/// `--endpoint`, else the configuration's `listen` (an unspecified address
/// meaning this machine), else the default.
fn endpoint(options: &ClientArgs) -> anyhow::Result<String> {
    if let Some(endpoint) = &options.endpoint {
        return Ok(endpoint.clone());
    }
    let configured = options.config.is_some() || std::path::Path::new("involve.toml").exists();
    if !configured {
        return Ok(DEFAULT_ENDPOINT.to_owned());
    }
    let settings =
        platform::Settings::load(options.config.as_deref()).context("cannot load configuration")?;
    let mut listen = settings.listen;
    if listen.ip().is_unspecified() {
        listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if settings.server.tls.enabled() { "https" } else { "http" };
    Ok(format!("{scheme}://{listen}"))
}
