"""Azure WeightStore under recording mocks: the blob service (versioning, soft delete), the private
container and the lifecycle rule that deletes old versions."""

from __future__ import annotations

from azure_weight_store_helpers import ACCOUNT, BLOB_SERVICE, CONTAINER, LIFECYCLE, render


def test_versioning_and_a_week_of_blob_and_container_soft_delete_by_default() -> None:
    graph = render(account_name="acmeweights01")
    inputs = graph.one(BLOB_SERVICE).inputs
    assert inputs == {
        "accountName": "acmeweights01",
        "resourceGroupName": "llm-rg",
        "blobServicesName": "default",
        "isVersioningEnabled": True,
        "deleteRetentionPolicy": {"enabled": True, "days": 7},
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 7},
    }


def test_soft_delete_days_set_the_retentions_and_0_turns_them_off() -> None:
    inputs = render(soft_delete_days=365, container_soft_delete_days=0).one(BLOB_SERVICE).inputs
    assert inputs["deleteRetentionPolicy"] == {"enabled": True, "days": 365}
    assert inputs["containerDeleteRetentionPolicy"] == {"enabled": False}


def test_container_is_private_in_this_account() -> None:
    graph = render()
    inputs = graph.one(CONTAINER, "weights-container").inputs
    assert inputs == {
        "accountName": graph.one(ACCOUNT).outputs["name"],
        "resourceGroupName": "llm-rg",
        "containerName": "weights",
        "publicAccess": "None",
    }
    assert render(container_name="llama-3").one(CONTAINER).inputs["containerName"] == "llama-3"


def test_lifecycle_deletes_only_previous_versions_after_30_days() -> None:
    graph = render(account_name="acmeweights01")
    policy = graph.one(LIFECYCLE, "weights-lifecycle").inputs
    assert policy["managementPolicyName"] == "default"
    assert policy["accountName"] == "acmeweights01"
    assert policy["policy"] == {
        "rules": [
            {
                "name": "delete-old-versions",
                "enabled": True,
                "type": "Lifecycle",
                "definition": {
                    "filters": {"blobTypes": ["blockBlob"]},
                    # version actions only: the current blob (baseBlob) is never deleted by the rule
                    "actions": {"version": {"delete": {"daysAfterCreationGreaterThan": 30}}},
                },
            }
        ]
    }


def test_noncurrent_version_days_sets_when_old_versions_go() -> None:
    (rule,) = render(noncurrent_version_days=3).one(LIFECYCLE).inputs["policy"]["rules"]
    assert rule["definition"]["actions"] == {"version": {"delete": {"daysAfterCreationGreaterThan": 3}}}


def test_settings_of_the_account_are_written_one_after_the_other() -> None:
    graph = render()
    blob_service = graph.one(BLOB_SERVICE)
    assert blob_service.urn in graph.one(CONTAINER).dependencies
    assert blob_service.urn in graph.one(LIFECYCLE).dependencies
