"""Identity: the Cognito user pool and app client that issue Upvault's JWTs by default.

Used unless the environment config names an external issuer and audience; the HTTP API's
JWT authorizer trusts whichever is configured.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.nag import acknowledge


class Identity(Construct):
    """The Cognito user pool and app client that issue Upvault's JWTs (the default identity)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            # The app that embeds Upvault signs its users up; strangers cannot self-register.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # TOTP only: SMS MFA would need an SMS role and a sandbox exit, for less security.
            mfa=cognito.Mfa.REQUIRED if config.cognito_mfa_required else cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            deletion_protection=config.retain_data,
            removal_policy=config.removal_policy,
        )
        findings = [
            (
                "AwsSolutions-COG8",
                "Cognito's Plus feature plan (threat protection) is billed per active user; "
                "password policy, TOTP MFA and short-lived tokens are the baseline here.",
            )
        ]
        if not config.cognito_mfa_required:
            findings.append(
                (
                    "AwsSolutions-COG2",
                    "cognito_mfa_required is off for this environment: the default only in dev, where "
                    "test users sign in from scripts; staging and prod require TOTP unless overridden.",
                )
            )
        acknowledge(self.user_pool, findings)
        self.client = self.user_pool.add_client(
            "WebClient",
            # Browsers cannot keep a secret; SRP never sends the password.
            generate_secret=False,
            # Only what the app uses: SRP sign-in (and refresh). No hosted UI, so no OAuth flows
            # and none of CDK's defaults (code + implicit grant to https://example.com).
            auth_flows=cognito.AuthFlow(user_srp=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )
        self.issuer = self.user_pool.user_pool_provider_url
        self.audience = [self.client.user_pool_client_id]
